package io.lockstep.coordinator.checkpoint;

import io.lockstep.proto.CatalogEntry;
import io.lockstep.coordinator.catalog.Catalog;
import io.lockstep.coordinator.op.CheckpointResult;
import io.lockstep.manifest.ManifestCodec;
import io.lockstep.coordinator.cli.ExitCode;
import io.lockstep.coordinator.op.FailureReason;
import io.lockstep.coordinator.op.OperationFailedException;
import io.lockstep.coordinator.op.OperationListener;
import io.lockstep.coordinator.testing.Invariants;
import io.lockstep.coordinator.testing.LocalCluster;
import io.lockstep.coordinator.testing.ProcLocksSnapshot;
import io.lockstep.coordinator.testing.TestMounts;
import io.lockstep.proto.CatalogManifest;
import io.lockstep.proto.LockRecord;
import io.lockstep.proto.Manifest;
import io.lockstep.proto.ProcessRecord;
import io.lockstep.zk.Decision;
import io.lockstep.zk.Decisions;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

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
    private final TestMounts mounts = new TestMounts();
    private LocalCluster cluster;

    @AfterEach
    void tearDown() throws Exception {
        try {
            mounts.close();
        } finally {
            if (cluster != null) {
                cluster.close();
            }
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

    /**
     * h2's group holds a task blocked in an unanswered FUSE request (state D), which the freezer
     * cannot stop: h2's freeze misses its 2 s deadline while h1's group is really frozen (read
     * from its cgroup when h1 answered its Freeze). The checkpoint aborts naming h2 and the stuck
     * task, and both hosts run again.
     */
    @Test
    @Timeout(value = 5, unit = TimeUnit.MINUTES, threadMode = Timeout.ThreadMode.SEPARATE_THREAD)
    void aFreezeThatMissesItsDeadlineWhileTheOtherHostIsFrozenAbortsAndThawsEveryHost() throws Exception {
        cluster = LocalCluster.start("h1", "h2");
        Path counter1 = startTickerCounting("h1", "app");
        Path counter2 = startTickerCounting("h2", "app");
        Path fuse = mounts.unansweredFuse(cluster.dir().resolve("fuse"));
        int stuck = cluster.run("h2", "app", List.of("/bin/sh", "-c", "exec stat \"$0\"", fuse.resolve("file").toString()));
        await("stat blocks in the unanswered FUSE request").atMost(Duration.ofSeconds(20))
                .until(() -> "D".equals(state(stuck)));
        AtomicReference<Map<String, Boolean>> frozenWhenH1Answered = new AtomicReference<>();
        OperationListener probe = new OperationListener() {
            @Override
            public void hostDone(String phase, String hostId, int done, int total, String detail) {
                if (phase.equals("freeze") && hostId.equals("h1")) {
                    try {
                        frozenWhenH1Answered.set(Invariants.frozenState(cluster, "app"));
                    } catch (Exception e) {
                        throw new IllegalStateException(e);
                    }
                }
            }
        };
        CheckpointOptions twoSecondFreeze = new CheckpointOptions(Duration.ofSeconds(60), Duration.ofSeconds(2),
                Duration.ofSeconds(60), Duration.ofSeconds(10));

        assertThatThrownBy(() -> new CheckpointOperation(cluster.coordinator(), twoSecondFreeze, probe).run("app"))
                .isInstanceOfSatisfying(OperationFailedException.class, e -> {
                    assertThat(e.reason()).isEqualTo(FailureReason.FREEZE_FAILED);
                    assertThat(e.hostId()).contains("h2");
                    assertThat(e.getMessage()).contains("deadline passed on the agent", "pid " + stuck + " (stat) state D");
                });
        assertThat(frozenWhenH1Answered.get()).as("h1's group when h1 answered its Freeze, h2's still freezing")
                .containsEntry("h1", true);
        assertThat(Invariants.decisions(cluster, "app")).singleElement().matches(d -> !d.isCommit());
        Invariants.assertAll(cluster);
        awaitTicking(counter1);
        awaitTicking(counter2);
    }

    /** A bug (here: a listener that throws) is an internal error with exit code 1, never "ZooKeeper unreachable". */
    @Test
    void anUnexpectedExceptionAbortsAsAnInternalErrorNotAsZooKeeperUnavailable() throws Exception {
        cluster = LocalCluster.start("h1");
        startTicker("h1", "app");
        OperationListener failingAfterCapture = new OperationListener() {
            @Override
            public void phaseEnded(String phase, long micros) {
                if (phase.equals("capture")) {
                    throw new IllegalStateException("listener bug after capture");
                }
            }
        };

        assertThatThrownBy(() -> new CheckpointOperation(cluster.coordinator(), CheckpointOptions.defaults(),
                failingAfterCapture).run("app"))
                .isInstanceOfSatisfying(OperationFailedException.class, e -> {
                    assertThat(e.reason()).isEqualTo(FailureReason.INTERNAL);
                    assertThat(ExitCode.of(e.reason()).code()).isEqualTo(1);
                    assertThat(e.getMessage()).contains("internal error", "listener bug after capture");
                });
        Invariants.assertAll(cluster);
        assertThat(Invariants.decisions(cluster, "app")).hasSize(1).allMatch(d -> !d.isCommit());
    }

    @Test
    void aStoreThatCannotBeWrittenAbortsWithNothingCommitted() throws Exception {
        cluster = LocalCluster.start("h1");
        startTicker("h1", "app");
        Path store = cluster.fileStore().root();
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
                    // A member whose agent saw its last process exit has left the group already (durable
                    // membership ends there): with members left the checkpoint finds their processes gone,
                    // with none it has no participant. Either way nothing is committed and the message says
                    // how to bring the group back.
                    assertThat(e.reason()).isIn(FailureReason.PROCESSES_GONE, FailureReason.NO_PARTICIPANTS);
                    assertThat(e.getMessage()).containsPattern(e.reason() == FailureReason.PROCESSES_GONE
                            ? "group app has no live process on (h1, h2|h1|h2): its processes are gone"
                            : "group app has no processes on any live agent")
                            .contains("the latest checkpoint is " + real.checkpointId(),
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

    private Path startTickerCounting(String host, String group) throws Exception {
        startTicker(host, group);
        return cluster.dir().resolve("counter-" + host + "-" + group);
    }

    private static void awaitTicking(Path counter) throws Exception {
        String before = Files.readString(counter);
        await("the ticker " + counter.getFileName() + " counts again").atMost(Duration.ofSeconds(20))
                .until(() -> !Files.readString(counter).equals(before));
    }

    /** The state letter of /proc/PID/stat (e.g. "D"); empty once the process is gone. */
    private static String state(int pid) {
        try {
            String stat = Files.readString(Path.of("/proc/" + pid + "/stat"));
            return String.valueOf(stat.charAt(stat.lastIndexOf(')') + 2));
        } catch (java.io.IOException gone) {
            return "";
        }
    }

    private int startTicker(String host, String group) throws Exception {
        Path counter = cluster.dir().resolve("counter-" + host + "-" + group);
        int pid = cluster.run(host, group, LocalCluster.worker("ready", "tick", counter.toString()));
        cluster.awaitReady(host, group, pid);
        return pid;
    }
}
