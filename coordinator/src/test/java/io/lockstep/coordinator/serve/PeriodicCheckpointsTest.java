package io.lockstep.coordinator.serve;

import io.lockstep.coordinator.catalog.Catalog;
import io.lockstep.coordinator.checkpoint.CheckpointOptions;
import io.lockstep.coordinator.op.CoordinatorContext;
import io.lockstep.coordinator.op.OperationListener;
import io.lockstep.coordinator.store.CheckpointStore;
import io.lockstep.coordinator.testing.Invariants;
import io.lockstep.coordinator.testing.LocalCluster;
import io.lockstep.proto.CatalogEntry;
import io.lockstep.zk.ZkClients;
import org.apache.curator.framework.CuratorFramework;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

import java.time.Clock;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.TimeUnit;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

/** Two `coordinator serve` instances for one group: one leader acts, retention keeps N. */
class PeriodicCheckpointsTest {
    private LocalCluster cluster;
    private CuratorFramework secondZk;

    @AfterEach
    void tearDown() throws Exception {
        if (secondZk != null) {
            secondZk.close();
        }
        if (cluster != null) {
            cluster.close();
        }
    }

    @Test
    void oneOfTwoInstancesIsLeaderAndRetentionKeepsTheNewest() throws Exception {
        cluster = LocalCluster.start("h1");
        int pid = cluster.run("h1", "app", LocalCluster.worker("ready", "sleep"));
        cluster.awaitReady("h1", "app", pid);
        secondZk = ZkClients.connect(cluster.zkConnect(), LocalCluster.SESSION_TIMEOUT, Duration.ofSeconds(5));
        CoordinatorContext other = CoordinatorContext.create(secondZk, cluster.layout(),
                cluster.coordinator().store(), Clock.systemUTC());
        List<PeriodicCheckpoints.TickOutcome> first = new CopyOnWriteArrayList<>();
        List<PeriodicCheckpoints.TickOutcome> second = new CopyOnWriteArrayList<>();
        try (PeriodicCheckpoints a = new PeriodicCheckpoints(cluster.coordinator(), "app", Duration.ofMillis(700), 2,
                CheckpointOptions.defaults(), () -> OperationListener.SILENT);
             PeriodicCheckpoints b = new PeriodicCheckpoints(other, "app", Duration.ofMillis(700), 2,
                     CheckpointOptions.defaults(), () -> OperationListener.SILENT)) {
            a.start();
            b.start();
            await("one instance is elected").atMost(Duration.ofSeconds(20)).until(() -> a.isLeader() || b.isLeader());
            CompletableFuture<Void> runA = CompletableFuture.runAsync(() -> runTicks(a, 4, first));
            CompletableFuture<Void> runB = CompletableFuture.runAsync(() -> runTicks(b, 4, second));
            runA.get(120, TimeUnit.SECONDS);
            runB.get(120, TimeUnit.SECONDS);
            assertThat(a.isLeader() ^ b.isLeader()).as("exactly one leader").isTrue();
        }
        List<PeriodicCheckpoints.TickOutcome> leader = first.contains(PeriodicCheckpoints.TickOutcome.COMMITTED) ? first : second;
        List<PeriodicCheckpoints.TickOutcome> follower = leader == first ? second : first;
        assertThat(leader).containsOnly(PeriodicCheckpoints.TickOutcome.COMMITTED);
        assertThat(follower).containsOnly(PeriodicCheckpoints.TickOutcome.SKIPPED_NOT_LEADER);
        assertThat(new Catalog(cluster.coordinator()).list("app")).hasSize(2);
        Invariants.assertAll(cluster);
    }

    /**
     * Once every process of the group died, ticks commit nothing (a checkpoint of nothing would
     * become the latest) and so retention deletes nothing: the real checkpoints stay.
     */
    @Test
    void ticksAfterTheGroupsProcessesAreGoneCommitNothingAndRetentionKeepsTheRealCheckpoints() throws Exception {
        cluster = LocalCluster.start("h1");
        int pid = cluster.run("h1", "app", LocalCluster.worker("ready", "sleep"));
        cluster.awaitReady("h1", "app", pid);
        List<PeriodicCheckpoints.Tick> ticks = new CopyOnWriteArrayList<>();
        try (PeriodicCheckpoints serve = new PeriodicCheckpoints(cluster.coordinator(), "app", Duration.ofMillis(300), 2,
                CheckpointOptions.defaults(), () -> OperationListener.SILENT)) {
            serve.start();
            await("the only instance is elected").atMost(Duration.ofSeconds(20)).until(serve::isLeader);
            serve.run(2, ticks::add);
            cluster.killApplications();
            serve.run(3, ticks::add);
        }

        List<String> real = ticks.subList(0, 2).stream().map(tick -> tick.checkpointId().orElseThrow()).toList();
        assertThat(ticks.subList(2, 5)).extracting(PeriodicCheckpoints.Tick::outcome)
                .containsOnly(PeriodicCheckpoints.TickOutcome.SKIPPED_PROCESSES_GONE);
        assertThat(ticks.subList(2, 5)).allSatisfy(tick -> assertThat(tick.deleted()).isEmpty());
        // Gone at the capture ("its processes are gone") or after the agents ended their memberships
        // ("no processes on any live agent"): either way the latest real checkpoint is named.
        assertThat(ticks.get(4).detail()).containsAnyOf("its processes are gone", "has no processes on any live agent")
                .contains("the latest checkpoint is " + real.get(1));
        assertThat(new Catalog(cluster.coordinator()).list("app")).extracting(CatalogEntry::getCheckpointId)
                .containsExactlyElementsOf(real);
        Invariants.assertAll(cluster);
    }

    private static void runTicks(PeriodicCheckpoints serve, int ticks, List<PeriodicCheckpoints.TickOutcome> outcomes) {
        try {
            serve.run(ticks, tick -> outcomes.add(tick.outcome()));
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }
}
