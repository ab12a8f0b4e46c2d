package io.lockstep.coordinator.catalog;

import io.lockstep.coordinator.op.CoordinatorContext;
import io.lockstep.coordinator.op.FailureReason;
import io.lockstep.coordinator.op.OperationFailedException;
import io.lockstep.zk.ZkLayout;
import org.apache.zookeeper.KeeperException;

import java.util.ArrayList;
import java.util.List;

/**
 * Which group names mean a group: one with a member, a checkpoint, or an operation ever opened (its
 * epoch node). A node under {@code groups/} with none of these (an empty container a lock or an
 * election left) is no group. A command naming an unknown group fails before it writes anything,
 * so that a typo leaves nothing behind in ZooKeeper.
 */
public final class KnownGroups {
    private final CoordinatorContext ctx;

    public KnownGroups(CoordinatorContext ctx) {
        this.ctx = ctx;
    }

    public boolean isKnown(String group) throws Exception {
        ZkLayout layout = ctx.layout();
        return !ctx.directory().members(group).isEmpty()
                || !children(layout.checkpoints(group)).isEmpty()
                || ctx.zk().checkExists().forPath(layout.epoch(group)) != null;
    }

    /** Known groups, sorted. */
    public List<String> all() throws Exception {
        List<String> known = new ArrayList<>();
        for (String group : ctx.directory().groups()) {
            if (isKnown(group)) {
                known.add(group);
            }
        }
        return known;
    }

    /** @throws OperationFailedException UNKNOWN_GROUP: "no group ap2; known: app, app2" */
    public void require(String group) throws Exception {
        ZkLayout.checkName("group", group);
        if (!isKnown(group)) {
            List<String> known = all();
            throw new OperationFailedException(FailureReason.UNKNOWN_GROUP, null, "no group " + group + "; "
                    + (known.isEmpty() ? "no groups are known yet (a group exists once `agent run --group "
                    + group + "` started a process in it)" : "known: " + String.join(", ", known)));
        }
    }

    private List<String> children(String path) throws Exception {
        try {
            return ctx.zk().getChildren().forPath(path);
        } catch (KeeperException.NoNodeException none) {
            return List.of();
        }
    }
}
