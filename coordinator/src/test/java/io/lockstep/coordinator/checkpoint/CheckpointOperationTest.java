package io.lockstep.coordinator.checkpoint;

import io.lockstep.proto.CatalogEntry;
import io.lockstep.coordinator.catalog.Catalog;
import io.lockstep.manifest.ManifestCodec;
import io.lockstep.coordinator.op.FailureReason;
import io.lockstep.coordinator.op.OperationFailedException;
import io.lockstep.coordinator.op.OperationListener;
import io.lockstep.coordinator.testing.Invariants;
import io.lockstep.coordinator.testing.LocalCluster;
import io.lockstep.coordinator.testing.ProcLocksSnapshot;
import io.lockstep.proto.CatalogManifest;
import io.lockstep.proto.LockRecord;
import io.lockstep.proto.Manifest;
import io.lockstep.proto.ProcessRecord;
import io.lockstep.zk.Decision;
import io.lockstep.zk.Decisions;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeSet;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicReference;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.awaitility.Awaitility.await;

/** Checkpoints over three real agents, real frozen cgroups and real locks held by real processes. */
class CheckpointOperationTest {
    private LocalCluster cluster;

    @AfterEach
    void tearDown() throws Exception {
        if (cluster != null) {
            cluster.close();
        }
    }

    /** Three hosts share two files; h3's worker waits for a lock h1's worker holds. */
    private Map<String, Integer> startSharedApplication(String group) throws Exception {
        Path shared = cluster.dir().resolve("shared-" + group);
        Files.createDirectories(shared);
        String data = shared.resolve("data").toString();
        String index = shared.resolve("index").toString();
        int p1 = cluster.run("h1", group, LocalCluster.worker("fd", "500", data, "lock", "posix", "write", "500", "0", "100",
                "fd", "501", index, "lock", "ofd", "read", "501", "0", "0", "ready", "sleep"));
        cluster.awaitReady("h1", group, p1);
        int p2 = cluster.run("h2", group, LocalCluster.worker("fd", "500", data, "lock", "posix", "read", "500", "200", "50",
                "fd", "502", index, "lock", "flock", "read", "502", "0", "0", "ready", "sleep"));
        cluster.awaitReady("h2", group, p2);
        int p3 = cluster.run("h3", group, LocalCluster.worker("fd", "500", data, "ready", "lock", "posix", "write", "500", "0",
                "10", "sleep"));
        cluster.awaitReady("h3", group, p3);
        await("pid " + p3 + " blocks waiting for the lock pid " + p1 + " holds").atMost(Duration.ofSeconds(10))
                .until(() -> ProcLocksSnapshot.read().waitingOf(p3).size() == 1);
        return Map.of("h1", p1, "h2", p2, "h3", p3);
    }

    @Test
    void commitsAConsistentCutOfThreeHostsWithHeldAndWaitedLocks() throws Exception {
        cluster = LocalCluster.start("h1", "h2", "h3");
        Map<String, Integer> pids = startSharedApplication("app");
        // Freezing parks a blocked lock call and takes its waiter entry out of /proc/locks until the
        // thaw (measured on 6.x), so waiters are compared with /proc/locks just before the freeze.
        ProcLocksSnapshot beforeFreeze = ProcLocksSnapshot.read();
        AtomicReference<ProcLocksSnapshot> atFreeze = new AtomicReference<>();
        AtomicReference<Map<String, Boolean>> frozenAtCapture = new AtomicReference<>();
        OperationListener probe = new OperationListener() {
            @Override
            public void phaseEnded(String phase, long micros) {
                if (phase.equals("freeze")) {
                    try {
                        atFreeze.set(ProcLocksSnapshot.read());
                        frozenAtCapture.set(Invariants.frozenState(cluster, "app"));
                    } catch (Exception e) {
                        throw new IllegalStateException(e);
                    }
                }
            }
        };

        CheckpointResult result = new CheckpointOperation(cluster.coordinator(), CheckpointOptions.defaults(), probe).run("app");

        assertThat(result.hosts()).containsExactly("h1", "h2", "h3");
        assertThat(frozenAtCapture.get()).as("every host frozen at the same time").containsOnly(
                Map.entry("h1", true), Map.entry("h2", true), Map.entry("h3", true));
        List<Manifest> manifests = new ArrayList<>();
        for (CatalogManifest stored : result.catalogEntry().getManifestsList()) {
            manifests.add(ManifestCodec.decode(cluster.coordinator().store().readVerified("app", result.checkpointId(),
                    stored.getHostId(), stored.getSha256(), stored.getSize())));
        }
        Set<String> captured = new TreeSet<>();
        for (Manifest manifest : manifests) {
            for (ProcessRecord process : manifest.getProcessesList()) {
                for (LockRecord lock : process.getLocksList()) {
                    captured.add(ProcLocksSnapshot.key(process.getPid(), lock));
                }
            }
        }
        Set<String> kernel = new TreeSet<>(atFreeze.get().heldKeysOf(pids.values()));
        beforeFreeze.keysOf(pids.values()).stream().filter(k -> k.contains("waiting")).forEach(kernel::add);
        assertThat(captured).as("union of manifests vs /proc/locks while frozen").isEqualTo(kernel);
        assertThat(captured).anyMatch(k -> k.contains("waiting"));
        assertThat(result.locks()).isEqualTo(captured.size());
        assertThat(result.frozenWindowMicros()).isPositive();
        assertThat(new Decisions(cluster.coordinator().zk(), cluster.layout()).read("app", result.checkpointId()))
                .contains(Decision.commit());
        Invariants.assertAll(cluster);
    }

    @Test
    void aFreezeThatCannotFinishByItsDeadlineAbortsAndThawsEveryHost() throws Exception {
        cluster = LocalCluster.start("h1", "h2");
        startTicker("h1", "app");
        startTicker("h2", "app");
        CheckpointOptions impossible = new CheckpointOptions(Duration.ofSeconds(30), Duration.ofMillis(1),
                Duration.ofSeconds(30), Duration.ofSeconds(10));

        assertThatThrownBy(() -> new CheckpointOperation(cluster.coordinator(), impossible, OperationListener.SILENT).run("app"))
                .isInstanceOfSatisfying(OperationFailedException.class, e -> {
                    assertThat(e.reason()).isIn(FailureReason.FREEZE_FAILED, FailureReason.BARRIER_TIMEOUT);
                    assertThat(e.hostId()).isPresent();
                    assertThat(e.getMessage()).contains("host");
                });
        Invariants.assertAll(cluster);
        assertThat(Invariants.decisions(cluster, "app")).allMatch(d -> !d.isCommit());
    }

    @Test
    void aStoreThatCannotBeWrittenAbortsWithNothingCommitted() throws Exception {
        cluster = LocalCluster.start("h1");
        startTicker("h1", "app");
        Path store = cluster.coordinator().store().root();
        Files.createDirectories(store.getParent());
        Files.writeString(store, "not a directory"); // every write under it fails

        assertThatThrownBy(() -> new CheckpointOperation(cluster.coordinator(), CheckpointOptions.defaults(),
                OperationListener.SILENT).run("app"))
                .isInstanceOfSatisfying(OperationFailedException.class,
                        e -> assertThat(e.reason()).isEqualTo(FailureReason.STORE_FAILED));
        assertThat(cluster.coordinator().zk().checkExists().forPath(cluster.layout().latest("app"))).isNull();
        Invariants.assertAll(cluster);
        Files.delete(store);
    }

    @Test
    void aSecondCheckpointOfABusyGroupIsRefusedAndTwoGroupsCheckpointConcurrently() throws Exception {
        cluster = LocalCluster.start("h1", "h2");
        startTicker("h1", "a");
        startTicker("h2", "a");
        startTicker("h1", "b");
        CountDownLatch firstFrozen = new CountDownLatch(1);
        CountDownLatch secondRefused = new CountDownLatch(1);
        OperationListener holdAfterFreeze = new OperationListener() {
            @Override
            public void phaseEnded(String phase, long micros) {
                if (phase.equals("freeze")) {
                    firstFrozen.countDown();
                    try {
                        secondRefused.await(30, TimeUnit.SECONDS);
                    } catch (InterruptedException e) {
                        Thread.currentThread().interrupt();
                    }
                }
            }
        };
        CompletableFuture<CheckpointResult> first = CompletableFuture.supplyAsync(() -> runQuietly("a", holdAfterFreeze));
        assertThat(firstFrozen.await(30, TimeUnit.SECONDS)).isTrue();

        CompletableFuture<CheckpointResult> otherGroup = CompletableFuture.supplyAsync(() -> runQuietly("b",
                OperationListener.SILENT));
        assertThatThrownBy(() -> new CheckpointOperation(cluster.coordinator(), CheckpointOptions.defaults(),
                OperationListener.SILENT).run("a"))
                .isInstanceOfSatisfying(OperationFailedException.class, e -> {
                    assertThat(e.reason()).isEqualTo(FailureReason.GROUP_BUSY);
                    assertThat(e.getMessage()).contains("busy").contains("ckpt-");
                });
        assertThat(otherGroup.get(60, TimeUnit.SECONDS).checkpointId()).startsWith("ckpt-");
        secondRefused.countDown();
        assertThat(first.get(60, TimeUnit.SECONDS).hosts()).containsExactly("h1", "h2");
        Invariants.assertAll(cluster);
    }

    @Test
    void aGroupNobodyEverRanIsUnknownAndLeavesNothingInZooKeeper() throws Exception {
        cluster = LocalCluster.start("h1");
        startTicker("h1", "app");
        assertThatThrownBy(() -> new CheckpointOperation(cluster.coordinator(), CheckpointOptions.defaults(),
                OperationListener.SILENT).run("nobody"))
                .isInstanceOfSatisfying(OperationFailedException.class, e -> {
                    assertThat(e.reason()).isEqualTo(FailureReason.UNKNOWN_GROUP);
                    assertThat(e.getMessage()).isEqualTo("no group nobody; known: app");
                });
        assertThat(cluster.coordinator().zk().checkExists().forPath(cluster.layout().group("nobody"))).isNull();
    }

    /**
     * Every process of the group died but its agents are still members: the checkpoint would hold
     * nothing. It is not committed, and it names the checkpoint to restore from instead.
     */
    @Test
    void aGroupWhoseProcessesAreGoneIsNotCheckpointedAndTheLatestCheckpointIsNamed() throws Exception {
        cluster = LocalCluster.start("h1", "h2");
        startTicker("h1", "app");
        startTicker("h2", "app");
        CheckpointResult real = new CheckpointOperation(cluster.coordinator(), CheckpointOptions.defaults(),
                OperationListener.SILENT).run("app");
        cluster.killApplications();

        assertThatThrownBy(() -> new CheckpointOperation(cluster.coordinator(), CheckpointOptions.defaults(),
                OperationListener.SILENT).run("app"))
                .isInstanceOfSatisfying(OperationFailedException.class, e -> {
                    assertThat(e.reason()).isEqualTo(FailureReason.PROCESSES_GONE);
                    assertThat(e.getMessage()).contains("group app has no live process on h1, h2",
                            "its processes are gone", "the latest checkpoint is " + real.checkpointId(),
                            "coordinator restore --group app --checkpoint " + real.checkpointId());
                });
        Catalog catalog = new Catalog(cluster.coordinator());
        assertThat(catalog.list("app")).extracting(CatalogEntry::getCheckpointId).containsExactly(real.checkpointId());
        assertThat(catalog.latestId("app")).contains(real.checkpointId());
        Invariants.assertAll(cluster);
    }

    private CheckpointResult runQuietly(String group, OperationListener listener) {
        try {
            return new CheckpointOperation(cluster.coordinator(), CheckpointOptions.defaults(), listener).run(group);
        } catch (Exception e) {
            throw new IllegalStateException(e);
        }
    }

    private int startTicker(String host, String group) throws Exception {
        Path counter = cluster.dir().resolve("counter-" + host + "-" + group);
        int pid = cluster.run(host, group, LocalCluster.worker("ready", "tick", counter.toString()));
        cluster.awaitReady(host, group, pid);
        return pid;
    }
}
