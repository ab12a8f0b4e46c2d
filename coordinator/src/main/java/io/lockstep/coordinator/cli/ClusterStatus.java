package io.lockstep.coordinator.cli;

import io.lockstep.coordinator.catalog.Catalog;
import io.lockstep.coordinator.catalog.KnownGroups;
import io.lockstep.coordinator.op.CoordinatorContext;
import io.lockstep.proto.HostRecord;
import io.lockstep.proto.LockHolder;
import io.lockstep.proto.OpRecord;
import io.lockstep.zk.Phase;
import io.lockstep.zk.ZkJson;
import io.lockstep.zk.ZkLayout;
import org.apache.curator.framework.CuratorFramework;
import org.apache.zookeeper.KeeperException;

import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.Optional;

/** What {@code status} shows, read from ZooKeeper in one pass: live agents, groups, running operations. */
record ClusterStatus(List<HostRecord> hosts, List<GroupStatus> groups) {

    record GroupStatus(String group, List<String> members, Optional<String> latest, Optional<LockHolder> lockHolder,
                       List<RunningOp> operations) {
    }

    /**
     * An operation with an owner and no decision. {@code phase} is the furthest barrier that has
     * entries (empty before any agent reached one), {@code reached} how many hosts are in it.
     */
    record RunningOp(OpRecord record, Optional<Phase> phase, int reached) {
    }

    static ClusterStatus read(CoordinatorContext ctx) throws Exception {
        Catalog catalog = new Catalog(ctx);
        List<GroupStatus> groups = new ArrayList<>();
        for (String group : new KnownGroups(ctx).all()) {
            groups.add(new GroupStatus(group, ctx.directory().members(group), catalog.latestId(group),
                    lockHolder(ctx, group), runningOps(ctx, group)));
        }
        List<HostRecord> hosts = new ArrayList<>(ctx.directory().liveHosts());
        hosts.sort(Comparator.comparing(HostRecord::getHostId));
        return new ClusterStatus(hosts, groups);
    }

    private static Optional<LockHolder> lockHolder(CoordinatorContext ctx, String group) throws Exception {
        String path = ctx.layout().lock(group);
        try {
            return Optional.of(ZkJson.parse(ctx.zk().getData().forPath(path), LockHolder.getDefaultInstance(), path));
        } catch (KeeperException.NoNodeException free) {
            return Optional.empty();
        }
    }

    private static List<RunningOp> runningOps(CoordinatorContext ctx, String group) throws Exception {
        CuratorFramework zk = ctx.zk();
        ZkLayout layout = ctx.layout();
        List<RunningOp> running = new ArrayList<>();
        for (String op : children(zk, layout.ops(group))) {
            if (zk.checkExists().forPath(layout.owner(group, op)) == null
                    || zk.checkExists().forPath(layout.decision(group, op)) != null) {
                continue;
            }
            String path = layout.op(group, op);
            OpRecord record;
            try {
                record = ZkJson.parse(zk.getData().forPath(path), OpRecord.getDefaultInstance(), path);
            } catch (KeeperException.NoNodeException endedMeanwhile) {
                continue;
            }
            Optional<Phase> furthest = Optional.empty();
            int reached = 0;
            for (Phase phase : Phase.values()) {
                int entries = children(zk, layout.phase(group, op, phase)).size();
                if (entries > 0) {
                    furthest = Optional.of(phase);
                    reached = entries;
                }
            }
            running.add(new RunningOp(record, furthest, reached));
        }
        running.sort((a, b) -> Long.compare(a.record().getEpoch(), b.record().getEpoch()));
        return running;
    }

    private static List<String> children(CuratorFramework zk, String path) throws Exception {
        try {
            return zk.getChildren().forPath(path);
        } catch (KeeperException.NoNodeException none) {
            return List.of();
        }
    }
}
