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
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;

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

    /** Full check against ZooKeeper; returns the op record. */
    public OpRecord admitNew(OpContext ctx) throws Exception {
        Stat epoch = zk.checkExists().forPath(layout.epoch(ctx.getGroup()));
        if (epoch != null) {
            fence.observe(ctx.getGroup(), epoch.getVersion());
        }
        fence.admit(ctx);
        String path = layout.op(ctx.getGroup(), ctx.getOpId());
        OpRecord record;
        try {
            record = ZkJson.parse(readCaughtUp(path), OpRecord.getDefaultInstance(), path);
        } catch (KeeperException.NoNodeException e) {
            throw Status.FAILED_PRECONDITION.withDescription("unknown operation " + ctx.getOpId() + " of group "
                    + ctx.getGroup() + " (no " + path + ")").asRuntimeException();
        }
        if (record.getEpoch() != ctx.getEpoch()) {
            throw Status.FAILED_PRECONDITION.withDescription("stale epoch " + ctx.getEpoch() + " for op "
                    + ctx.getOpId() + ": the op was opened with epoch " + record.getEpoch()).asRuntimeException();
        }
        if (zk.checkExists().forPath(layout.decision(ctx.getGroup(), ctx.getOpId())) != null) {
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

    /**
     * The op record. The coordinator wrote it before calling us, but this session's server may be
     * a follower that has not applied that write yet (ZooKeeper reads are sequentially consistent
     * per session, not linearizable; seen with 256 agents on a 3-server ensemble): on NoNode,
     * sync this server with the leader once and read again. The usual case costs no extra request.
     */
    private byte[] readCaughtUp(String path) throws Exception {
        try {
            return zk.getData().forPath(path);
        } catch (KeeperException.NoNodeException notYet) {
            CountDownLatch synced = new CountDownLatch(1);
            zk.sync().inBackground((client, event) -> synced.countDown()).forPath(path);
            if (!synced.await(SYNC_TIMEOUT.toMillis(), TimeUnit.MILLISECONDS)) {
                throw Status.UNAVAILABLE.withDescription("ZooKeeper did not sync " + path + " with its leader within "
                        + SYNC_TIMEOUT).asRuntimeException();
            }
            return zk.getData().forPath(path);
        }
    }

    /** In-memory fence only, for the later steps of an op already admitted. */
    public void admit(OpContext ctx) {
        fence.admit(ctx);
    }
}
