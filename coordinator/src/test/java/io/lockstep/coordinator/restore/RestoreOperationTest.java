package io.lockstep.coordinator.restore;

import io.lockstep.coordinator.op.RestoreResult;
import io.lockstep.manifest.ManifestCodec;
import io.lockstep.coordinator.op.CheckpointResult;
import io.lockstep.coordinator.op.FailureReason;
import io.lockstep.coordinator.op.OperationFailedException;
import io.lockstep.coordinator.testing.Invariants;
import io.lockstep.coordinator.testing.LocalCluster;
import io.lockstep.coordinator.testing.ProcLocksSnapshot;
import io.lockstep.proto.CatalogManifest;
import io.lockstep.proto.LockRecord;
import io.lockstep.proto.Manifest;
import io.lockstep.proto.ProcessRecord;
import io.lockstep.proto.StagedProcess;
import io.lockstep.proto.StopReply;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeSet;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.awaitility.Awaitility.await;

/** Restores with real stubs, real locks and real restarted processes. */
class RestoreOperationTest {
    private LocalCluster cluster;

    @AfterEach
    void tearDown() throws Exception {
        if (cluster != null) {
            cluster.close();
        }
    }

    /** The test's workers run as root (their jars live under /root): restoring them needs allow-root. */
    private static RestoreOptions asRoot() {
        return RestoreOptions.defaults().withAllowRoot(true);
    }

    private static int newPid(RestoreResult result, String host, int oldPid) {
        return result.processesByHost().get(host).stream().filter(p -> p.getOldPid() == oldPid)
                .mapToInt(StagedProcess::getNewPid).findFirst().orElseThrow();
    }

    @Test
    void theHolderHoldsItsLockAgainBeforeTheWaiterRunsAndTheWaiterGetsItOnlyAfterTheRelease() throws Exception {
        cluster = LocalCluster.start("h1", "h2");
        Path shared = Files.createDirectories(cluster.dir().resolve("export"));
        String data = shared.resolve("data").toString();
        String log = shared.resolve("log").toString();
        String go = shared.resolve("go-p1").toString();
        int p1 = cluster.run("h1", "app", LocalCluster.worker("fd", "500", data, "lock", "posix", "write", "500", "0", "100",
                "append", log, "P1-locked", "ready", "await-file", go, "append", log, "P1-releasing",
                // logged before the unlock: after it, P2 may write first
                "unlock", "posix", "500", "0", "100", "sleep"));
        cluster.awaitReady("h1", "app", p1);
        int p2 = cluster.run("h2", "app", LocalCluster.worker("fd", "500", data, "ready", "expect-held", "500", "0", "100",
                "lock", "posix", "write", "500", "0", "100", "append", log, "P2-locked", "sleep"));
        cluster.awaitReady("h2", "app", p2);
        await("P2 waits for P1's lock").atMost(Duration.ofSeconds(10))
                .until(() -> ProcLocksSnapshot.read().waitingOf(p2).size() == 1);

        CheckpointResult checkpoint = cluster.checkpoint("app");
        cluster.killApplications();
        // A killed process leaves its cgroup before the kernel has dropped all of its locks.
        await("the killed holder's locks are gone").atMost(Duration.ofSeconds(10))
                .until(() -> ProcLocksSnapshot.read().heldBy(p1).isEmpty());

        RestoreResult restored = cluster.restore("app", asRoot());

        int q1 = newPid(restored, "h1", p1);
        int q2 = newPid(restored, "h2", p2);
        // The waiter's first act after its restart: it sees the holder's restored process holding L1.
        // Its stdout is a fresh output file of the agent's; the first run's lines stay in the old one.
        await("restored P2 reports who holds L1").atMost(Duration.ofSeconds(30))
                .until(() -> !heldByLines(cluster.output("h2", "app", q2)).isEmpty());
        assertThat(heldByLines(cluster.output("h2", "app", q2))).containsExactly("HELD-BY " + q1);
        assertThat(heldByLines(cluster.output("h2", "app", p2))).containsExactly("HELD-BY " + p1);
        assertHeldLocksMatchManifests(checkpoint, Map.of(p1, q1, p2, q2));
        await("restored P2 waits for L1").atMost(Duration.ofSeconds(10))
                .until(() -> ProcLocksSnapshot.read().waitingOf(q2).size() == 1);
        assertThat(Files.readString(Path.of(log))).doesNotContain("P2-locked pid=" + q2);

        Files.createFile(Path.of(go));
        await("restored P2 gets L1 after restored P1 released it").atMost(Duration.ofSeconds(30))
                .until(() -> Files.readString(Path.of(log)).contains("P2-locked pid=" + q2));
        List<String> lines = Files.readAllLines(Path.of(log));
        assertThat(lines.indexOf("P1-releasing pid=" + q1 + " restored=1"))
                .isLessThan(lines.indexOf("P2-locked pid=" + q2 + " restored=1"))
                .isNotNegative();
        Invariants.assertAll(cluster);
    }

    /**
     * A restore while the group still runs would start it twice (and wait on its own holder's lock
     * as if an outsider held it): it is refused before any op is opened or stub staged, naming
     * host and pids; --replace stops the group first (SIGTERM, SIGKILL after the grace) and says so.
     */
    @Test
    void aRestoreOfARunningGroupIsRefusedBeforeStagingAndReplaceStopsItFirst() throws Exception {
        cluster = LocalCluster.start("h1", "h2");
        Path data = Files.createDirectories(cluster.dir().resolve("export")).resolve("data");
        int holder = cluster.run("h1", "app", LocalCluster.worker("fd", "500", data.toString(), "lock", "posix", "write",
                "500", "0", "100", "ready", "sleep"));
        cluster.awaitReady("h1", "app", holder);
        int stubborn = cluster.run("h2", "app", List.of("/bin/sh", "-c",
                "trap '' TERM; echo READY; while :; do sleep 1; done"));
        cluster.awaitReady("h2", "app", stubborn);
        cluster.checkpoint("app");
        int opsBefore = Invariants.decisions(cluster, "app").size();

        assertThatThrownBy(() -> cluster.restore("app", asRoot()))
                .isInstanceOfSatisfying(OperationFailedException.class, e -> {
                    assertThat(e.reason()).isEqualTo(FailureReason.GROUP_RUNNING);
                    assertThat(e.getMessage()).contains("group app is still running", "host h1 pids " + holder,
                            "host h2 pids " + stubborn, "nothing was staged", "--replace");
                });
        assertThat(Invariants.decisions(cluster, "app")).as("no restore op was opened").hasSize(opsBefore);
        Invariants.assertNoStubs(cluster);
        assertThat(ProcessHandle.of(holder)).as("the running holder was left alone").isPresent();

        // The shell's sleep child has no restart spec of its own: left out, as an operator would.
        RestoreResult restored = cluster.restore("app", asRoot().withReplace(Duration.ofSeconds(1)).withSkipUnrestartable(true));

        Map<String, StopReply> stopped = new java.util.TreeMap<>();
        restored.stopped().forEach(reply -> stopped.put(reply.getHostId(), reply));
        assertThat(stopped).containsOnlyKeys("h1", "h2");
        assertThat(stopped.get("h1").getTerminatedList()).containsExactly(holder);
        assertThat(stopped.get("h2").getKilledList()).as("ignores SIGTERM").contains(stubborn);
        await("the stopped processes are gone").atMost(Duration.ofSeconds(10))
                .until(() -> ProcessHandle.of(holder).isEmpty() && ProcessHandle.of(stubborn).isEmpty());
        int newHolder = newPid(restored, "h1", holder);
        await("the restored holder holds its lock again").atMost(Duration.ofSeconds(30))
                .until(() -> !ProcLocksSnapshot.read().heldBy(newHolder).isEmpty());
        Invariants.assertAll(cluster);
    }

    /** A --replace restore that fails after the stop says that the group no longer runs, and what was stopped. */
    @Test
    void aReplaceRestoreRefusedAfterTheStopSaysTheGroupWasStopped() throws Exception {
        cluster = LocalCluster.start("h1");
        Path data = Files.createDirectories(cluster.dir().resolve("export")).resolve("data");
        int holder = cluster.run("h1", "app", LocalCluster.worker("fd", "500", data.toString(), "lock", "posix", "write",
                "500", "0", "10", "ready", "sleep"));
        cluster.awaitReady("h1", "app", holder);
        cluster.checkpoint("app");
        Files.delete(data);

        assertThatThrownBy(() -> cluster.restore("app", asRoot().withReplace(Duration.ofSeconds(1))))
                .isInstanceOfSatisfying(OperationFailedException.class, e -> assertThat(e.getMessage())
                        .contains("refused by validation", "the group is not running: --replace had stopped host h1 pids "
                                + holder + " (SIGTERM)"));
        await("the stopped holder is gone").atMost(Duration.ofSeconds(10)).until(() -> ProcessHandle.of(holder).isEmpty());
        Invariants.assertAll(cluster);
    }

    private static List<String> heldByLines(String output) {
        return output.lines().filter(line -> line.startsWith("HELD-BY")).toList();
    }

    /** /proc/locks holds exactly the manifests' held locks, now owned by the new pids. */
    private void assertHeldLocksMatchManifests(CheckpointResult checkpoint, Map<Integer, Integer> newPids) throws Exception {
        Set<String> expected = new TreeSet<>();
        for (CatalogManifest stored : checkpoint.catalogEntry().getManifestsList()) {
            Manifest manifest = ManifestCodec.decode(cluster.coordinator().store().readVerified("app",
                    checkpoint.checkpointId(), stored.getHostId(), stored.getSha256(), stored.getSize()));
            for (ProcessRecord process : manifest.getProcessesList()) {
                for (LockRecord lock : process.getLocksList()) {
                    if (!lock.getWaiting()) {
                        expected.add(ProcLocksSnapshot.key(newPids.get(process.getPid()), lock));
                    }
                }
            }
        }
        assertThat(ProcLocksSnapshot.read().heldKeysOf(newPids.values())).isEqualTo(expected);
    }

    @Test
    void aMissingFileRefusesTheRestoreBeforeAnythingIsLockedAndSizeDriftNeedsForce() throws Exception {
        cluster = LocalCluster.start("h1");
        Path shared = Files.createDirectories(cluster.dir().resolve("export"));
        Path data = shared.resolve("data");
        Path extra = shared.resolve("extra");
        int p1 = cluster.run("h1", "app", LocalCluster.worker("fd", "500", data.toString(), "fd", "501", extra.toString(),
                "lock", "posix", "write", "500", "0", "10", "ready", "sleep"));
        cluster.awaitReady("h1", "app", p1);
        cluster.checkpoint("app");
        cluster.killApplications();

        Files.writeString(extra, "grown");
        assertThatThrownBy(() -> cluster.restore("app", asRoot()))
                .isInstanceOfSatisfying(OperationFailedException.class, e -> {
                    assertThat(e.reason()).isEqualTo(FailureReason.VALIDATION_FAILED);
                    assertThat(e.getMessage()).contains(extra.toString()).contains("size drift")
                            .contains("files changed since the checkpoint and no snapshot of it covers them: --force");
                });
        Invariants.assertAll(cluster);

        Files.delete(extra);
        assertThatThrownBy(() -> cluster.restore("app", asRoot().withForce(true)))
                .isInstanceOfSatisfying(OperationFailedException.class, e -> {
                    assertThat(e.reason()).isEqualTo(FailureReason.VALIDATION_FAILED);
                    assertThat(e.getMessage()).contains(extra.toString()).contains("missing");
                });
        assertThat(ProcLocksSnapshot.read().entries()).noneMatch(l -> l.inode() == inode(data));
        Invariants.assertAll(cluster);

        Files.writeString(extra, "back, different size");
        RestoreResult forced = cluster.restore("app", asRoot().withForce(true));
        assertThat(forced.processesByHost().get("h1")).hasSize(1);
        Invariants.assertAll(cluster);
    }

    @Test
    void anOutsiderHoldingANeededLockAbortsTheRestoreAtItsDeadlineNamingIt() throws Exception {
        cluster = LocalCluster.start("h1");
        Path shared = Files.createDirectories(cluster.dir().resolve("export"));
        String data = shared.resolve("data").toString();
        int p1 = cluster.run("h1", "app", LocalCluster.worker("fd", "500", data, "lock", "posix", "write", "500", "0", "10",
                "ready", "sleep"));
        cluster.awaitReady("h1", "app", p1);
        cluster.checkpoint("app");
        cluster.killApplications();
        int outsider = cluster.run("h1", "outside", LocalCluster.worker("fd", "500", data, "lock", "posix", "read", "500",
                "5", "1", "ready", "sleep"));
        cluster.awaitReady("h1", "outside", outsider);

        assertThatThrownBy(() -> cluster.restore("app", asRoot().withTimeout(Duration.ofSeconds(5))))
                .isInstanceOfSatisfying(OperationFailedException.class, e -> {
                    assertThat(e.reason()).isEqualTo(FailureReason.LOCK_CONFLICT);
                    assertThat(e.getMessage()).contains(data).contains("pid " + outsider);
                });
        assertThat(ProcLocksSnapshot.read().entries()).allMatch(l -> l.pid() == outsider || l.inode() != inode(Path.of(data)));
        Invariants.assertAll(cluster);
    }

    private static long inode(Path file) {
        try {
            return ((Number) Files.getAttribute(file, "unix:ino")).longValue();
        } catch (java.io.IOException e) {
            return -1;
        }
    }
}
