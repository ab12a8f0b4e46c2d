package io.lockstep.coordinator.testing;

import io.lockstep.agent.cgroup.CgroupLayout;
import io.lockstep.agent.server.AgentServer;
import io.lockstep.agent.server.ManagedGroup;
import io.lockstep.coordinator.store.CheckpointStore;
import io.lockstep.proto.CatalogEntry;
import io.lockstep.proto.CatalogManifest;
import io.lockstep.zk.Decision;
import io.lockstep.zk.Decisions;
import io.lockstep.zk.ZkJson;
import io.lockstep.zk.ZkLayout;
import org.apache.curator.framework.CuratorFramework;
import org.apache.zookeeper.KeeperException;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

/** The invariants of docs/DESIGN.md that any test can assert after an operation ended. */
public final class Invariants {
    private Invariants() {
    }

    /** Nothing frozen, no stub left, decisions single-valued and truthful, catalog backed by the store. */
    public static void assertAll(LocalCluster cluster) throws Exception {
        assertNothingFrozen(cluster);
        assertNoStubs(cluster);
        assertCatalogConsistent(cluster);
    }

    public static Map<String, Boolean> frozenState(LocalCluster cluster, String group) throws IOException {
        Map<String, Boolean> state = new LinkedHashMap<>();
        for (String host : cluster.hosts()) {
            AgentServer agent = cluster.agent(host);
            if (agent != null) {
                for (ManagedGroup g : agent.groups().all().values()) {
                    if (g.name().equals(group)) {
                        state.put(host, g.cgroup().isFrozen());
                    }
                }
            }
        }
        return state;
    }

    /** No group cgroup of any simulated host is frozen (waits for agents' watchdogs, bounded). */
    public static void assertNothingFrozen(LocalCluster cluster) throws IOException {
        await("no group of cluster " + cluster.id() + " is frozen").atMost(Duration.ofSeconds(40))
                .until(() -> frozenGroups(cluster).isEmpty());
    }

    public static List<String> frozenGroups(LocalCluster cluster) throws IOException {
        List<String> frozen = new ArrayList<>();
        for (String host : cluster.hosts()) {
            CgroupLayout layout = cluster.cgroups(host);
            for (String group : layout.existingGroups()) {
                if (layout.forGroup(group).isFrozen()) {
                    frozen.add(host + "/" + group);
                }
            }
        }
        return frozen;
    }

    /** No restore stub of this cluster is running. */
    public static void assertNoStubs(LocalCluster cluster) {
        await("no restore stub of cluster " + cluster.id() + " runs").atMost(Duration.ofSeconds(20))
                .until(() -> stubPids(cluster).isEmpty());
    }

    public static List<Long> stubPids(LocalCluster cluster) {
        String marker = cluster.dir().toString();
        return ProcessHandle.allProcesses()
                .filter(p -> p.info().commandLine().map(c -> c.contains(io.lockstep.agent.restore.StubBinary.NAME)
                        && c.contains(marker)).orElse(false))
                .map(ProcessHandle::pid)
                .toList();
    }

    /** Every op has at most one decision; every catalog entry's op is COMMIT and its manifests match their sha256. */
    public static void assertCatalogConsistent(LocalCluster cluster) throws Exception {
        for (String group : children(cluster.coordinator().zk(), cluster.layout().groups())) {
            assertCatalogConsistent(cluster, group);
        }
    }

    /**
     * The same for one group: where a test's operations ran. Each check of every group reads every
     * manifest the cluster ever committed, which a long-lived cluster (the fault schedules' soak)
     * pays again and again.
     */
    public static void assertCatalogConsistent(LocalCluster cluster, String group) throws Exception {
        CuratorFramework zk = cluster.coordinator().zk();
        ZkLayout layout = cluster.layout();
        CheckpointStore store = cluster.coordinator().store();
        for (String id : children(zk, layout.checkpoints(group))) {
            String path = layout.checkpoint(group, id);
            CatalogEntry entry = ZkJson.parse(zk.getData().forPath(path), CatalogEntry.getDefaultInstance(), path);
            assertThat(new Decisions(zk, layout).read(group, entry.getOpId()))
                    .as("decision of committed checkpoint " + id).contains(Decision.commit());
            for (CatalogManifest manifest : entry.getManifestsList()) {
                store.readVerified(group, id, manifest.getHostId(), manifest.getSha256(), manifest.getSize());
            }
        }
        byte[] latest = zk.checkExists().forPath(layout.latest(group)) == null ? null : zk.getData().forPath(layout.latest(group));
        if (latest != null) {
            assertThat(children(zk, layout.checkpoints(group))).contains(new String(latest, StandardCharsets.UTF_8));
        }
    }

    /** The decisions of a group's ops, in epoch order (op ids carry their epoch; checkpoints and restores interleave). */
    public static List<Decision> decisions(LocalCluster cluster, String group) throws Exception {
        CuratorFramework zk = cluster.coordinator().zk();
        List<Decision> decisions = new ArrayList<>();
        List<String> ops = new ArrayList<>(children(zk, cluster.layout().ops(group)));
        ops.sort(java.util.Comparator.comparingLong(Invariants::epochOf));
        for (String op : ops) {
            new Decisions(zk, cluster.layout()).read(group, op).ifPresent(decisions::add);
        }
        return decisions;
    }

    /** The epoch an op id carries ({@code ckpt-<UTC second>-<epoch>-<random>}, `OpIds`). */
    public static long epochOf(String opId) {
        return Long.parseLong(opId.split("-")[2]);
    }

    /** The id of the group's op opened at {@code epoch}. */
    public static String opOfEpoch(LocalCluster cluster, String group, long epoch) throws Exception {
        return children(cluster.coordinator().zk(), cluster.layout().ops(group)).stream()
                .filter(op -> epochOf(op) == epoch).findFirst()
                .orElseThrow(() -> new AssertionError("group " + group + " has no op of epoch " + epoch));
    }

    private static List<String> children(CuratorFramework zk, String path) throws Exception {
        try {
            List<String> names = new ArrayList<>(zk.getChildren().forPath(path));
            names.sort(String::compareTo);
            return names;
        } catch (KeeperException.NoNodeException none) {
            return List.of();
        }
    }
}
