package io.lockstep.bench.checkpoint;

import io.lockstep.zk.Phase;
import io.lockstep.zk.ZkLayout;
import org.apache.curator.framework.CuratorFramework;
import org.apache.zookeeper.KeeperException;

import java.time.Duration;
import java.time.Instant;
import java.util.List;
import java.util.concurrent.locks.LockSupport;

/**
 * Waits until every agent has removed its barrier entries of an operation: the last of the work
 * a checkpoint causes (agents do it after the thaw, off the operation's path).
 */
final class Quiescence {
    private static final Duration TIMEOUT = Duration.ofMinutes(1);
    private static final long POLL_NANOS = 5_000_000;

    private final CuratorFramework zk;
    private final ZkLayout layout;
    private final String group;

    Quiescence(CuratorFramework zk, ZkLayout layout, String group) {
        this.zk = zk;
        this.layout = layout;
        this.group = group;
    }

    void await(String opId) throws Exception {
        Instant deadline = Instant.now().plus(TIMEOUT);
        for (Phase phase : Phase.CHECKPOINT) {
            String path = layout.phase(group, opId, phase);
            List<String> left;
            while (!(left = children(path)).isEmpty()) {
                if (Instant.now().isAfter(deadline)) {
                    throw new IllegalStateException("agents " + left + " did not remove their " + path + " entries within "
                            + TIMEOUT);
                }
                LockSupport.parkNanos(POLL_NANOS);
            }
        }
    }

    private List<String> children(String path) throws Exception {
        try {
            return zk.getChildren().forPath(path);
        } catch (KeeperException.NoNodeException e) {
            return List.of();
        }
    }
}
