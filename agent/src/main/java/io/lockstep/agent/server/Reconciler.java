package io.lockstep.agent.server;

import io.lockstep.agent.cgroup.FreezeGuard;
import io.lockstep.agent.cgroup.GuardDaemon;
import io.lockstep.zk.Decision;
import io.lockstep.zk.Decisions;
import io.lockstep.zk.ZkLayout;
import org.apache.curator.framework.CuratorFramework;
import org.apache.zookeeper.KeeperException;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.util.HashSet;
import java.util.List;
import java.util.Set;

/**
 * Runs when an agent starts, before it serves: groups left frozen by a previous agent process
 * are thawed — but only after every undecided operation of the group is decided ABORT, because
 * the old agent's session (and its frozen node) may still be alive and a commit must not
 * include a host that thawed. Freeze guards the previous agent left armed are stopped. Groups
 * with processes keep their membership; a membership of a group whose processes all ended while
 * no agent ran here ends now.
 */
final class Reconciler {
    private static final Logger LOG = LoggerFactory.getLogger(Reconciler.class);

    private final CuratorFramework zk;
    private final ZkLayout layout;
    private final String hostId;
    private final GuardDaemon guardDaemon;

    Reconciler(CuratorFramework zk, ZkLayout layout, String hostId, GuardDaemon guardDaemon) {
        this.guardDaemon = guardDaemon;
        this.zk = zk;
        this.layout = layout;
        this.hostId = hostId;
    }

    void reconcile(GroupRegistry groups, AgentRegistration registration, EpochFence fence) throws Exception {
        Set<String> withProcesses = new HashSet<>();
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
            // After the thaw, so that the group is never frozen and unguarded; before serving, so
            // that an old guard can never fire into a new checkpoint's frozen window.
            List<String> entries = new java.util.ArrayList<>();
            for (String id : guardDaemon.entryIds()) {
                if (id.startsWith(name + "/")) {
                    guardDaemon.disarm(id);
                    entries.add(id);
                }
            }
            if (!entries.isEmpty()) {
                LOG.warn("group {}: disarmed freeze guard entries {} a previous agent on host {} left", name, entries, hostId);
            }
            // Guards of the per-freeze kind (a shell each) that an agent of an earlier release left.
            List<Integer> guards = FreezeGuard.cancelOrphans(group.cgroup().freezer());
            if (!guards.isEmpty()) {
                LOG.warn("group {}: stopped freeze guards {} a previous agent on host {} left armed", name, guards, hostId);
            }
            if (!group.cgroup().pids().isEmpty()) {
                withProcesses.add(name);
                registration.join(name);
            }
        }
        for (String group : children(layout.groups())) {
            if (!withProcesses.contains(group) && zk.checkExists().forPath(layout.member(group, hostId)) != null) {
                registration.leave(group);
                LOG.info("group {}: its processes on host {} ended while no agent ran here; membership ended", group,
                        hostId);
            }
        }
    }

    private List<String> children(String path) throws Exception {
        try {
            return zk.getChildren().forPath(path);
        } catch (KeeperException.NoNodeException none) {
            return List.of();
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
