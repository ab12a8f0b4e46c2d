package io.lockstep.agent.server;

import io.grpc.Status;
import io.lockstep.proto.OpContext;
import io.lockstep.zk.Decision;
import io.lockstep.zk.Decisions;
import io.lockstep.zk.Phase;
import io.lockstep.zk.PipelinedReads;
import io.lockstep.zk.ZkLayout;
import org.apache.curator.drivers.OperationTrace;
import org.apache.curator.framework.CuratorFramework;
import org.apache.curator.framework.api.transaction.CuratorOp;
import org.apache.zookeeper.KeeperException;
import org.apache.zookeeper.OpResult;
import org.apache.zookeeper.ZooKeeper;
import org.apache.zookeeper.data.Stat;

import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;
import java.util.concurrent.Callable;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import java.util.function.Predicate;

/**
 * A host enters the freeze barrier ({@code frozen/<host>}) only while its op is still the group's
 * current one: one multi checks that no later op opened the group (the epoch node's version is
 * still the op's epoch) and that the op's coordinator still owns it, and creates the entry; a read
 * after it finds no decision. A Freeze that arrives late — after a watchdog or the coordinator
 * decided the op, after its coordinator is gone, or after a later op opened — is refused, and its
 * caller thaws at once, instead of leaving the group frozen until the decision's watch or the
 * guard thaws it. (The in-memory epoch fence cannot know of a decision or a later op it has not
 * seen yet.) A decision written after the entry is the usual frozen-then-aborted case, which the
 * decision's watch handles.
 */
final class FrozenEntry {
    /** How long the entry's multi and read may take together before the client's retries take over. */
    private static final Duration ANSWER_TIMEOUT = Duration.ofSeconds(30);

    private FrozenEntry() {
    }

    /**
     * @return whether this host's entry completed the barrier — its count child is the all-frozen
     *     signal ({@link BarrierSignal}) — and the op was not decided
     */
    static boolean enter(CuratorFramework zk, ZkLayout layout, OpContext op, String hostId, List<String> participants)
            throws Exception {
        BarrierSignal barrier = new BarrierSignal(zk, layout, op, Phase.FROZEN, participants.size());
        List<CuratorOp> ops = barrier.entryOps(hostId, guards(zk, layout, op));
        String signal = barrier.signalPath();
        return checked(zk, layout, op, hostId, ops, () -> barrier.enter(hostId, guards(zk, layout, op)),
                results -> results.stream().anyMatch(result -> result instanceof OpResult.CreateResult created
                        && signal.equals(created.getPath())));
    }

    /**
     * A host alone in its op, after its capture and thaw: its frozen and captured entries and both
     * signals in one multi, under the same checks (docs/DESIGN.md, "A host alone in its op").
     */
    static void enterAlone(CuratorFramework zk, ZkLayout layout, OpContext op, String hostId) throws Exception {
        List<CuratorOp> ops = new ArrayList<>(new BarrierSignal(zk, layout, op, Phase.FROZEN, 1)
                .entryOps(hostId, guards(zk, layout, op)));
        ops.addAll(new BarrierSignal(zk, layout, op, Phase.CAPTURED, 1).entryOps(hostId, List.of()));
        checked(zk, layout, op, hostId, ops, () -> {
            zk.transaction().forOperations(ops);
            return true;
        }, results -> true);
    }

    /** No later op opened the group (the epoch node's version), and the op's coordinator still owns it. */
    private static List<CuratorOp> guards(CuratorFramework zk, ZkLayout layout, OpContext op) throws Exception {
        return List.of(
                zk.transactionOp().check().withVersion(Math.toIntExact(op.getEpoch())).forPath(layout.epoch(op.getGroup())),
                zk.transactionOp().check().forPath(layout.owner(op.getGroup(), op.getOpId())));
    }

    /**
     * Runs the entry multi and the decision's read behind it; names a stale epoch or a lost
     * coordinator; refuses (and removes its entries) once decided. The read is sent right after
     * the multi on the same session, which applies requests in the order sent: it sees every
     * decision made before the entry, and costs no round trip of its own (the host whose entry
     * closes all-frozen captures once this call returns). When the connection fails meanwhile, the
     * multi goes again through the client's retries ({@code retried}), then a read after it.
     */
    private static boolean checked(CuratorFramework zk, ZkLayout layout, OpContext op, String hostId, List<CuratorOp> ops,
                                   Callable<Boolean> retried, Predicate<List<OpResult>> closedBy) throws Exception {
        String group = op.getGroup();
        boolean closed;
        Optional<Decision> decided;
        try {
            ZooKeeper session = zk.getZookeeperClient().getZooKeeper();
            // traced as the client's own requests are, so that request counts include them
            OperationTrace multiTrace = zk.getZookeeperClient().startAdvancedTracer("CuratorMultiTransactionImpl-Background");
            CompletableFuture<List<OpResult>> entry = new CompletableFuture<>();
            session.multi(ops.stream().map(CuratorOp::get).toList(), (rc, path, ctx, results) -> {
                multiTrace.setReturnCode(rc).commit();
                if (rc == KeeperException.Code.OK.intValue()) {
                    entry.complete(results);
                } else {
                    entry.completeExceptionally(KeeperException.create(KeeperException.Code.get(firstError(rc, results))));
                }
            }, null);
            String decisionPath = layout.decision(group, op.getOpId());
            OperationTrace readTrace = zk.getZookeeperClient().startAdvancedTracer("GetDataBuilderImpl-Background")
                    .setPath(decisionPath);
            CompletableFuture<Optional<Decision>> decision = new CompletableFuture<>();
            session.getData(decisionPath, false, (rc, path, ctx, data, stat) -> {
                readTrace.setReturnCode(rc).commit();
                PipelinedReads.settle(decision, rc, path, () -> Decision.parse(data));
            }, null);
            try {
                closed = closedBy.test(await(entry));
                decided = await(decision);
            } catch (KeeperException.ConnectionLossException | KeeperException.SessionMovedException
                     | KeeperException.OperationTimeoutException unanswered) {
                closed = retried.call();
                decided = new Decisions(zk, layout).read(group, op.getOpId());
            }
        } catch (KeeperException.BadVersionException later) {
            Stat epoch = zk.checkExists().forPath(layout.epoch(group));
            throw Status.FAILED_PRECONDITION.withDescription("stale epoch " + op.getEpoch() + " for op " + op.getOpId()
                    + ": a later operation opened group " + group + " (epoch now "
                    + (epoch == null ? "unknown" : epoch.getVersion()) + ") before host " + hostId + " was frozen")
                    .asRuntimeException();
        } catch (KeeperException.NoNodeException ownerGone) {
            throw Status.FAILED_PRECONDITION.withDescription("op " + op.getOpId() + " of group " + group
                    + " lost its coordinator (no " + layout.owner(group, op.getOpId()) + ") before host " + hostId
                    + " was frozen").asRuntimeException();
        }
        if (decided.isPresent()) {
            for (Phase phase : List.of(Phase.CAPTURED, Phase.FROZEN)) {
                zk.delete().quietly().forPath(layout.phaseEntry(group, op.getOpId(), phase, hostId));
            }
            throw Status.FAILED_PRECONDITION.withDescription("op " + op.getOpId() + " of group " + group
                    + " was decided (" + decided.get() + ") before host " + hostId + " was frozen").asRuntimeException();
        }
        return closed;
    }

    /** A failed multi's cause: its first failing operation (the others answer that they were rolled back). */
    private static int firstError(int rc, List<OpResult> results) {
        if (results != null) {
            for (OpResult result : results) {
                if (result instanceof OpResult.ErrorResult error && error.getErr() != KeeperException.Code.OK.intValue()
                        && error.getErr() != KeeperException.Code.RUNTIMEINCONSISTENCY.intValue()) {
                    return error.getErr();
                }
            }
        }
        return rc;
    }

    /** Bounded: a session that loses its connection answers every request sent on it with an error. */
    private static <T> T await(CompletableFuture<T> answer) throws Exception {
        try {
            return answer.get(ANSWER_TIMEOUT.toMillis(), TimeUnit.MILLISECONDS);
        } catch (ExecutionException e) {
            throw e.getCause() instanceof Exception cause ? cause : e;
        } catch (TimeoutException e) {
            throw new KeeperException.OperationTimeoutException();
        }
    }
}
