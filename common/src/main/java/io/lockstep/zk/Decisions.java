package io.lockstep.zk;

import org.apache.curator.framework.CuratorFramework;
import org.apache.zookeeper.CreateMode;
import org.apache.zookeeper.KeeperException;

import java.util.Optional;

/** Reads and writes the decision node: first writer wins, and everyone reports what was really decided. */
public final class Decisions {
    private final CuratorFramework zk;
    private final ZkLayout layout;

    public Decisions(CuratorFramework zk, ZkLayout layout) {
        this.zk = zk;
        this.layout = layout;
    }

    /**
     * Creates the decision if none exists yet.
     *
     * @return the decision that stands: the one given, or the one another party wrote first
     */
    public Decision decide(String group, String op, Decision wanted) throws Exception {
        try {
            zk.create().withMode(CreateMode.PERSISTENT).forPath(layout.decision(group, op), wanted.toBytes());
            return wanted;
        } catch (KeeperException.NodeExistsException alreadyDecided) {
            return read(group, op).orElseThrow(() -> new IllegalStateException(
                    "decision of " + group + "/" + op + " exists and vanished: decisions are never deleted"));
        }
    }

    public Optional<Decision> read(String group, String op) throws Exception {
        try {
            return Optional.of(Decision.parse(zk.getData().forPath(layout.decision(group, op))));
        } catch (KeeperException.NoNodeException none) {
            return Optional.empty();
        }
    }
}
