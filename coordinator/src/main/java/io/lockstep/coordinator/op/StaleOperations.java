package io.lockstep.coordinator.op;

import io.lockstep.zk.Decision;
import io.lockstep.zk.Decisions;
import io.lockstep.zk.ZkLayout;
import org.apache.curator.framework.CuratorFramework;
import org.apache.zookeeper.KeeperException;

import java.util.ArrayList;
import java.util.List;

/**
 * Cleans up after coordinators that died mid-operation: an op with no decision and no owner can
 * never commit any more, so it is decided ABORT (first writer wins; an agent may have done it).
 * Run while holding the group lock.
 */
public final class StaleOperations {
    private final CuratorFramework zk;
    private final ZkLayout layout;
    private final Decisions decisions;

    public StaleOperations(CuratorFramework zk, ZkLayout layout) {
        this.zk = zk;
        this.layout = layout;
        this.decisions = new Decisions(zk, layout);
    }

    /** @return the ops this call decided ABORT */
    public List<String> abortOrphans(String group) throws Exception {
        List<String> aborted = new ArrayList<>();
        List<String> ops;
        try {
            ops = zk.getChildren().forPath(layout.ops(group));
        } catch (KeeperException.NoNodeException none) {
            return aborted;
        }
        for (String op : ops) {
            boolean decided = zk.checkExists().forPath(layout.decision(group, op)) != null;
            boolean owned = zk.checkExists().forPath(layout.owner(group, op)) != null;
            if (!decided && !owned) {
                Decision standing = decisions.decide(group, op, Decision.abort("coordinator lost before a decision"));
                if (!standing.isCommit()) {
                    aborted.add(op);
                }
            }
        }
        return aborted;
    }
}
