package io.lockstep.coordinator.op;

import io.lockstep.proto.LockHolder;
import io.lockstep.zk.ZkJson;
import io.lockstep.zk.ZkLayout;
import org.apache.curator.framework.CuratorFramework;
import org.apache.zookeeper.CreateMode;
import org.apache.zookeeper.KeeperException;

import java.time.Instant;

/**
 * One operation at a time per group: an ephemeral groups/<g>/lock naming its holder. A second
 * operation fails fast and says who holds it; a crashed holder's session takes the lock with it.
 */
public final class GroupLock implements AutoCloseable {
    private final CuratorFramework zk;
    private final String path;

    private GroupLock(CuratorFramework zk, String path) {
        this.zk = zk;
        this.path = path;
    }

    public static GroupLock acquire(CuratorFramework zk, ZkLayout layout, String group, LockHolder holder)
            throws Exception {
        String path = layout.lock(group);
        try {
            zk.create().creatingParentContainersIfNeeded().withMode(CreateMode.EPHEMERAL)
                    .forPath(path, ZkJson.toBytes(holder));
            return new GroupLock(zk, path);
        } catch (KeeperException.NodeExistsException busy) {
            String who;
            try {
                LockHolder other = ZkJson.parse(zk.getData().forPath(path), LockHolder.getDefaultInstance(), path);
                who = "operation " + other.getOpId() + " by coordinator " + other.getCoordinatorId()
                        + " (host " + other.getHostname() + ", pid " + other.getPid() + ") since "
                        + Instant.ofEpochMilli(other.getSinceUnixMs());
            } catch (KeeperException.NoNodeException releasedMeanwhile) {
                who = "an operation that has just ended; try again";
            }
            throw new OperationFailedException(FailureReason.GROUP_BUSY, null,
                    "group " + group + " is busy: " + who);
        }
    }

    /** Records the op id in the lock once it is known, so that a refused operator learns it. */
    public void describe(LockHolder holder) throws Exception {
        zk.setData().forPath(path, ZkJson.toBytes(holder));
    }

    @Override
    public void close() throws Exception {
        try {
            zk.delete().guaranteed().forPath(path);
        } catch (KeeperException.NoNodeException alreadyGone) {
            // The session expired and took the ephemeral node with it: nothing left to release.
        }
    }
}
