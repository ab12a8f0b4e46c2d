package io.lockstep.coordinator.op;

import io.lockstep.proto.LockHolder;
import io.lockstep.zk.ZkJson;
import io.lockstep.zk.ZkLayout;
import org.apache.curator.framework.CuratorFramework;
import org.apache.curator.framework.api.transaction.CuratorOp;
import org.apache.curator.framework.state.ConnectionState;
import org.apache.curator.framework.state.ConnectionStateListener;
import org.apache.zookeeper.CreateMode;
import org.apache.zookeeper.KeeperException;
import org.apache.zookeeper.data.Stat;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.time.Instant;
import java.util.UUID;

/**
 * One operation at a time per group: an ephemeral groups/<g>/lock naming its holder. A second
 * operation fails fast and says who holds it; a crashed holder's session takes the lock with it.
 * The lock is this node, not the path: a lock that was lost (its session expired) and taken by
 * the next coordinator is never mistaken for ours, neither when checking that it is held nor when
 * releasing it.
 */
public final class GroupLock implements AutoCloseable {
    private static final Logger LOG = LoggerFactory.getLogger(GroupLock.class);

    private final CuratorFramework zk;
    private final String group;
    private final String path;
    /** The zxid that created our node: what tells it from a later holder's node on the same path. */
    private final long createdZxid;
    private volatile int version;
    /** Written into the node: what tells our create from another operation's in the same session. */
    private final String acquisition;

    private GroupLock(CuratorFramework zk, String group, String path, Stat stat, String acquisition) {
        this.zk = zk;
        this.acquisition = acquisition;
        this.group = group;
        this.path = path;
        this.createdZxid = stat.getCzxid();
        this.version = stat.getVersion();
    }

    public static GroupLock acquire(CuratorFramework zk, ZkLayout layout, String group, LockHolder holder)
            throws Exception {
        return acquire(zk, layout, group, holder, UUID.randomUUID().toString());
    }

    /** With the token that marks this acquisition's node (random in {@link #acquire(CuratorFramework, ZkLayout, String, LockHolder)}). */
    static GroupLock acquire(CuratorFramework zk, ZkLayout layout, String group, LockHolder holder, String acquisition)
            throws Exception {
        String path = layout.lock(group);
        // The create's answer carries the node's stat: no read after it.
        Stat created = new Stat();
        try {
            zk.create().storingStatIn(created).creatingParentContainersIfNeeded().withMode(CreateMode.EPHEMERAL)
                    .forPath(path, ZkJson.toBytes(holder.toBuilder().setAcquisition(acquisition).build()));
        } catch (KeeperException.NodeExistsException busy) {
            Stat stat = new Stat();
            String who;
            try {
                LockHolder other = ZkJson.parse(zk.getData().storingStatIn(stat).forPath(path),
                        LockHolder.getDefaultInstance(), path);
                if (stat.getEphemeralOwner() == sessionId(zk) && other.getAcquisition().equals(acquisition)) {
                    // Our own create, applied but its answer lost: the client retried into it.
                    return new GroupLock(zk, group, path, stat, acquisition);
                }
                who = "operation " + other.getOpId() + " by coordinator " + other.getCoordinatorId()
                        + " (host " + other.getHostname() + ", pid " + other.getPid() + ") since "
                        + Instant.ofEpochMilli(other.getSinceUnixMs());
            } catch (KeeperException.NoNodeException releasedMeanwhile) {
                who = "an operation that has just ended; try again";
            }
            throw new OperationFailedException(FailureReason.GROUP_BUSY, null,
                    "group " + group + " is busy: " + who);
        }
        if (created.getEphemeralOwner() != sessionId(zk)) {
            throw lost(group);
        }
        return new GroupLock(zk, group, path, created, acquisition);
    }

    /**
     * A transaction step that records the op id in the lock once it is known, so that a refused
     * operator learns it; it fails, as {@link #heldCheck} does, unless the lock is still ours and
     * unchanged. Call {@link #described} once the transaction was applied.
     */
    public CuratorOp describing(LockHolder holder) throws Exception {
        return zk.transactionOp().setData().withVersion(version)
                .forPath(path, ZkJson.toBytes(holder.toBuilder().setAcquisition(acquisition).build()));
    }

    /** The transaction with {@link #describing} was applied: the lock's version moved by one. */
    void described() {
        version++;
    }

    /** @throws OperationFailedException when the lock is no longer this node (its session expired) */
    public void requireHeld() throws Exception {
        Stat stat = zk.checkExists().forPath(path);
        if (stat == null || stat.getCzxid() != createdZxid) {
            throw lost(group);
        }
    }

    /**
     * A transaction step that fails unless the lock is still ours, unchanged since we last wrote
     * it (a lost lock taken by someone else is a new node; {@link #requireHeld} tells the two apart
     * before the transaction, this step closes the gap up to it).
     */
    public CuratorOp heldCheck() throws Exception {
        return zk.transactionOp().check().withVersion(version).forPath(path);
    }

    private static OperationFailedException lost(String group) {
        return new OperationFailedException(FailureReason.ZK_UNAVAILABLE, null, "lost the operation lock of group "
                + group + " (this coordinator's ZooKeeper session expired, and the lock with it)");
    }

    private static long sessionId(CuratorFramework zk) throws Exception {
        return zk.getZookeeperClient().getZooKeeper().getSessionId();
    }

    /**
     * Deletes our node, never a later holder's. When ZooKeeper does not answer, the delete is
     * tried again on reconnection (the node may outlive a short disconnection with our session).
     */
    @Override
    public void close() throws Exception {
        try {
            deleteIfOurs();
        } catch (KeeperException.ConnectionLossException | KeeperException.OperationTimeoutException unreachable) {
            zk.getConnectionStateListenable().addListener(new ConnectionStateListener() {
                @Override
                public void stateChanged(CuratorFramework client, ConnectionState state) {
                    if (state == ConnectionState.RECONNECTED) {
                        client.getConnectionStateListenable().removeListener(this);
                        try {
                            deleteIfOurs();
                        } catch (Exception e) {
                            LOG.warn("group {}: could not release the operation lock after reconnecting: {}", group,
                                    e.toString());
                        }
                    }
                }
            });
        }
    }

    private void deleteIfOurs() throws Exception {
        Stat stat = zk.checkExists().forPath(path);
        if (stat == null || stat.getCzxid() != createdZxid) {
            // Gone with our session: whatever is there now is the next holder's.
            return;
        }
        try {
            zk.delete().withVersion(stat.getVersion()).forPath(path);
        } catch (KeeperException.NoNodeException | KeeperException.BadVersionException goneMeanwhile) {
            // Our session expired in between: nothing of ours left to release.
        }
    }
}
