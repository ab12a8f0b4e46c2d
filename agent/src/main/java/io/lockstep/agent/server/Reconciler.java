package io.lockstep.agent.server;

import io.lockstep.zk.Decision;
import io.lockstep.zk.Decisions;
import io.lockstep.zk.ZkLayout;
import org.apache.curator.framework.CuratorFramework;
import org.apache.zookeeper.KeeperException;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.util.List;

/**
 * Runs when an agent starts, before it serves: groups left frozen by a previous agent process
 * are thawed — but only after every undecided operation of the group is decided ABORT, because
 * the old agent's session (and its frozen node) may still be alive and a commit must not
 * include a host that thawed. Groups with processes rejoin their membership.
 */
final class Reconciler {
    private static final Logger LOG = LoggerFactory.getLogger(Reconciler.class);

    private final CuratorFramework zk;
    private final ZkLayout layout;
    private final String hostId;

    Reconciler(CuratorFramework zk, ZkLayout layout, String hostId) {
        this.zk = zk;
        this.layout = layout;
        this.hostId = hostId;
    }

    void reconcile(GroupRegistry groups, AgentRegistration registration, EpochFence fence) throws Exception {
        for (ManagedGroup group : groups.rediscover()) {
            String name = group.name();
            var epoch = zk.checkExists().forPath(layout.epoch(name));
            if (epoch != null) {
                fence.observe(name, epoch.getVersion());
            }
            if (group.cgroup().isFrozen()) {
                abortUndecided(name);
                group.cgroup().freezer().thaw();
                LOG.warn("group {}: was left frozen by a previous agent on host {}; undecided ops aborted, thawed", name,
                        hostId);
            }
            if (!group.cgroup().pids().isEmpty()) {
                registration.join(name);
            }
        }
    }

    private void abortUndecided(String group) throws Exception {
        List<String> ops;
        try {
            ops = zk.getChildren().forPath(layout.ops(group));
        } catch (KeeperException.NoNodeException none) {
            return;
        }
        Decisions decisions = new Decisions(zk, layout);
        for (String op : ops) {
            if (decisions.read(group, op).isEmpty()) {
                decisions.decide(group, op, Decision.abort("agent on host " + hostId + " restarted while the group was frozen"));
            }
        }
    }
}
