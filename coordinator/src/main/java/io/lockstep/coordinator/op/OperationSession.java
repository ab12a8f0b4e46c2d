package io.lockstep.coordinator.op;

import io.lockstep.coordinator.agents.AgentClient;
import io.lockstep.proto.HostRecord;
import io.lockstep.proto.OpRecord;
import io.lockstep.zk.Decision;
import io.lockstep.zk.Decisions;
import io.lockstep.zk.PipelinedReads;
import org.apache.curator.framework.api.transaction.CuratorOp;
import org.apache.zookeeper.KeeperException;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.util.Collection;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.CompletableFuture;

/**
 * The frame every operation runs in: the group lock, clean-up of ops left by dead coordinators,
 * the opened op with its owner node, and the agents of its participants. Closing it deletes the
 * owner node and releases the lock.
 */
public final class OperationSession implements AutoCloseable {
    private static final Logger LOG = LoggerFactory.getLogger(OperationSession.class);

    private final CoordinatorContext ctx;
    private final GroupLock lock;
    private final String group;
    private OpenedOperation op;

    private OperationSession(CoordinatorContext ctx, GroupLock lock, String group) {
        this.ctx = ctx;
        this.lock = lock;
        this.group = group;
    }

    /** Takes the group's lock (fails fast when busy) and aborts orphaned ops. */
    public static OperationSession begin(CoordinatorContext ctx, String group) throws Exception {
        GroupLock lock = GroupLock.acquire(ctx.zk(), ctx.layout(), group, ctx.lockHolder(""));
        try {
            new StaleOperations(ctx.zk(), ctx.layout()).abortOrphans(group);
        } catch (Exception e) {
            lock.close();
            throw e;
        }
        return new OperationSession(ctx, lock, group);
    }

    /** The agents of these hosts; a host without a live registration is unavailable. */
    public Map<String, AgentClient> agents(Collection<String> hosts) throws Exception {
        Map<String, AgentClient> agents = new LinkedHashMap<>();
        for (String host : hosts) {
            HostRecord record = ctx.directory().host(host).orElseThrow(() -> new OperationFailedException(
                    FailureReason.AGENT_UNAVAILABLE, host, "no live agent registered for host " + host
                    + " (no " + ctx.layout().host(host) + ")"));
            agents.put(host, ctx.clients().forHost(record));
        }
        return agents;
    }

    /** The agents of hosts whose registrations were just read. */
    public Map<String, AgentClient> agents(Map<String, HostRecord> registrations) {
        Map<String, AgentClient> agents = new LinkedHashMap<>();
        registrations.forEach((host, record) -> agents.put(host, ctx.clients().forHost(record)));
        return agents;
    }

    public OpenedOperation open(OpRecord.Builder template) throws Exception {
        op = new OperationOpener(ctx.zk(), ctx.layout()).open(group, template
                .setCoordinatorId(ctx.coordinatorId())
                .setOpenedUnixMs(ctx.clock().millis()), lock, ctx::lockHolder);
        return op;
    }

    /**
     * What a commit transaction must also check: that this coordinator still holds the group's
     * lock, and that no later operation has opened since (the epoch node's version is the epoch
     * this op opened with). The lock is checked before, too, to name the fault.
     */
    public List<CuratorOp> commitGuards() throws Exception {
        lock.requireHeld();
        return List.of(lock.heldCheck(),
                ctx.zk().transactionOp().check().withVersion(Math.toIntExact(op.epoch())).forPath(ctx.layout().epoch(group)));
    }

    /**
     * Writes ABORT unless a decision exists.
     *
     * @return the decision that stands, as ZooKeeper answered (whoever wrote it); empty when
     *         ZooKeeper did not answer, so that the outcome is unknown
     */
    public Optional<Decision> decideAbort(OperationFailedException failure) {
        try {
            return Optional.of(new Decisions(ctx.zk(), ctx.layout()).decide(group, op.opId(),
                    Decision.abort(failure.reason() + ": " + failure.getMessage())));
        } catch (Exception zkDown) {
            // Without ZooKeeper no decision can be written or read; the agents abort on their own
            // when this coordinator's owner node disappears with its session.
            LOG.error("op {}: cannot record ABORT: {}", op.opId(), zkDown.toString());
            return Optional.empty();
        }
    }

    /**
     * Deletes the owner node and releases the lock. The owner's delete is sent without waiting for
     * its answer, so that the lock's release follows it in the same round trip; the session
     * applies the two in order, so the owner is gone before the lock is free.
     */
    @Override
    public void close() throws Exception {
        CompletableFuture<Void> ownerGone = op == null ? CompletableFuture.completedFuture(null) : deleteOwner();
        try {
            lock.close();
        } finally {
            try {
                PipelinedReads.await(ownerGone);
            } catch (Exception e) {
                LOG.warn("op {}: could not delete owner node: {}", op.opId(), e.toString());
            }
        }
    }

    private CompletableFuture<Void> deleteOwner() {
        CompletableFuture<Void> deleted = new CompletableFuture<>();
        try {
            // guaranteed: retried in the background until it is applied, also past a disconnection
            ctx.zk().delete().guaranteed().inBackground((client, event) -> {
                int code = event.getResultCode();
                if (code == KeeperException.Code.OK.intValue() || code == KeeperException.Code.NONODE.intValue()) {
                    deleted.complete(null); // NONODE: the session expired and took it
                } else {
                    deleted.completeExceptionally(KeeperException.create(KeeperException.Code.get(code), event.getPath()));
                }
            }).forPath(ctx.layout().owner(group, op.opId()));
        } catch (Exception e) {
            deleted.completeExceptionally(e);
        }
        return deleted;
    }
}
