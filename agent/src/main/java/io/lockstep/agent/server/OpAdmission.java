package io.lockstep.agent.server;

import io.grpc.Status;
import io.lockstep.proto.OpContext;
import io.lockstep.proto.OpRecord;
import io.lockstep.zk.ZkJson;
import io.lockstep.zk.ZkLayout;
import org.apache.curator.framework.CuratorFramework;
import org.apache.zookeeper.KeeperException;
import org.apache.zookeeper.data.Stat;

import java.time.Duration;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;

/**
 * Admits an operation request at its start: the epoch must not be older than the group's epoch
 * in ZooKeeper or any the agent has seen, the op must exist with that epoch, and this host must
 * be one of its participants. Later requests of the same op only pass the in-memory fence.
 */
public final class OpAdmission {
    private static final Duration SYNC_TIMEOUT = Duration.ofSeconds(10);

    private final CuratorFramework zk;
    private final ZkLayout layout;
    private final EpochFence fence;
    private final String hostId;

    public OpAdmission(CuratorFramework zk, ZkLayout layout, EpochFence fence, String hostId) {
        this.zk = zk;
        this.layout = layout;
        this.fence = fence;
        this.hostId = hostId;
    }

    public EpochFence fence() {
        return fence;
    }

    /**
     * Full check against ZooKeeper; returns the op record. The three reads (epoch, op record,
     * decision) go out at once, pipelined on the session: one round trip, answered in order.
     */
    public OpRecord admitNew(OpContext ctx) throws Exception {
        String path = layout.op(ctx.getGroup(), ctx.getOpId());
        CompletableFuture<Stat> epochRead = read(zk.checkExists(), layout.epoch(ctx.getGroup()));
        CompletableFuture<byte[]> recordRead = new CompletableFuture<>();
        zk.getData().inBackground((client, event) -> complete(recordRead, event.getResultCode(), event.getData(),
                event.getPath())).forPath(path);
        CompletableFuture<Stat> decisionRead = read(zk.checkExists(), layout.decision(ctx.getGroup(), ctx.getOpId()));
        Stat epoch = await(epochRead);
        if (epoch != null) {
            fence.observe(ctx.getGroup(), epoch.getVersion());
        }
        fence.admit(ctx);
        OpRecord record;
        boolean caughtUp = false;
        try {
            byte[] data = await(recordRead);
            if (data == null) {
                data = readCaughtUp(path);
                caughtUp = true;
            }
            record = ZkJson.parse(data, OpRecord.getDefaultInstance(), path);
        } catch (KeeperException.NoNodeException e) {
            throw Status.FAILED_PRECONDITION.withDescription("unknown operation " + ctx.getOpId() + " of group "
                    + ctx.getGroup() + " (no " + path + ")").asRuntimeException();
        }
        if (record.getEpoch() != ctx.getEpoch()) {
            throw Status.FAILED_PRECONDITION.withDescription("stale epoch " + ctx.getEpoch() + " for op "
                    + ctx.getOpId() + ": the op was opened with epoch " + record.getEpoch()).asRuntimeException();
        }
        // After a sync the pipelined decision read is older than the record: read it again.
        boolean decided = caughtUp ? zk.checkExists().forPath(layout.decision(ctx.getGroup(), ctx.getOpId())) != null
                : await(decisionRead) != null;
        if (decided) {
            // An op that was decided (e.g. aborted by a watchdog) never starts anything again.
            throw Status.FAILED_PRECONDITION.withDescription("op " + ctx.getOpId() + " of group " + ctx.getGroup()
                    + " is already decided").asRuntimeException();
        }
        if (!record.getParticipantsList().contains(hostId)) {
            throw Status.FAILED_PRECONDITION.withDescription("host " + hostId + " is not a participant of op "
                    + ctx.getOpId() + " (participants " + record.getParticipantsList() + ")").asRuntimeException();
        }
        return record;
    }

    /** An exists read in the background: its Stat, or null for no node. */
    private static CompletableFuture<Stat> read(org.apache.curator.framework.api.ExistsBuilder exists, String path)
            throws Exception {
        CompletableFuture<Stat> result = new CompletableFuture<>();
        exists.inBackground((client, event) -> complete(result, event.getResultCode(), event.getStat(), event.getPath()))
                .forPath(path);
        return result;
    }

    /** OK completes with the value, NONODE with null (the record's caller then reads it caught up), else fails. */
    private static <T> void complete(CompletableFuture<T> result, int code, T value, String path) {
        if (code == KeeperException.Code.OK.intValue()) {
            result.complete(value);
        } else if (code == KeeperException.Code.NONODE.intValue()) {
            result.complete(null);
        } else {
            result.completeExceptionally(KeeperException.create(KeeperException.Code.get(code), path));
        }
    }

    private static <T> T await(CompletableFuture<T> read) throws Exception {
        try {
            return read.get(SYNC_TIMEOUT.toMillis(), TimeUnit.MILLISECONDS);
        } catch (ExecutionException e) {
            throw e.getCause() instanceof Exception cause ? cause : e;
        } catch (TimeoutException e) {
            throw Status.UNAVAILABLE.withDescription("ZooKeeper did not answer within " + SYNC_TIMEOUT).asRuntimeException();
        }
    }

    /**
     * The op record when the first read found none. The coordinator wrote it before calling us, but
     * this session's server may be a follower that has not applied that write yet (ZooKeeper reads
     * are sequentially consistent per session, not linearizable; seen with 256 agents on a 3-server
     * ensemble): sync this server with the leader once and read again. The usual case costs no
     * extra request.
     */
    private byte[] readCaughtUp(String path) throws Exception {
        CountDownLatch synced = new CountDownLatch(1);
        zk.sync().inBackground((client, event) -> synced.countDown()).forPath(path);
        if (!synced.await(SYNC_TIMEOUT.toMillis(), TimeUnit.MILLISECONDS)) {
            throw Status.UNAVAILABLE.withDescription("ZooKeeper did not sync " + path + " with its leader within "
                    + SYNC_TIMEOUT).asRuntimeException();
        }
        return zk.getData().forPath(path);
    }

    /** In-memory fence only, for the later steps of an op already admitted. */
    public void admit(OpContext ctx) {
        fence.admit(ctx);
    }
}
