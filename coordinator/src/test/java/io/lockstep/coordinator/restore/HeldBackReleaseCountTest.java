package io.lockstep.coordinator.restore;

import io.lockstep.coordinator.checkpoint.CheckpointOperation;
import io.lockstep.coordinator.checkpoint.CheckpointOptions;
import io.lockstep.coordinator.op.OperationListener;
import io.lockstep.coordinator.op.RestoreResult;
import io.lockstep.coordinator.testing.Invariants;
import io.lockstep.coordinator.testing.LocalCluster;
import io.lockstep.coordinator.testing.ProcLocksSnapshot;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

/**
 * Releases of a restore with a held-back waiter (h2's POSIX waiter for h1's OFD lock, which is
 * handed over) next to another process on the same host (a sleeper).
 *
 * <p>h2's decision watch releases the sleeper on the COMMIT before the coordinator's first Release
 * arrives. That Release has nothing left to release but must still count what the watch released,
 * or the coordinator reports "released 1 of 2 staged processes (a stub ended before the release)"
 * for a restore in which every process runs (seen by the fault schedules; failed on 3d602db).
 *
 * <p>Both stubs of h2 killed after the confirm round: the restore commits and reports h2's release
 * as failed; the dead held-back stub ends with the others, so the next restore is not refused
 * "being restored by" the old op until the agent's hand-over fallback (30 s and a session). The
 * fault schedules saw those refusals, then the fallback acting on the old op after the agent had
 * validated newer ones (failed on 966864f).
 */
class HeldBackReleaseCountTest {
    private static final String GROUP = "app";

    private LocalCluster cluster;
    private Path export;

    @BeforeEach
    void setUp() throws Exception {
        cluster = LocalCluster.start();
        export = cluster.startAgentsSharingExport("export", "h1", "h2");
    }

    @AfterEach
    void tearDown() throws Exception {
        cluster.close();
    }

    @Test
    void aReleaseAfterTheWatchReleasedTheOtherProcessesCountsThem() throws Exception {
        checkpointAHolderOnH1AndAWaiterAndASleeperOnH2();
        // The coordinator's Release waits until h2's watch has exec'd the sleeper's stub.
        OperationListener releaseAfterTheWatch = new OperationListener() {
            @Override
            public void phaseStarted(String phase, int total) {
                if (phase.equals("release")) {
                    await("h2's decision watch released the sleeper").atMost(Duration.ofSeconds(30))
                            .until(() -> runs("h2", "/bin/sleep"));
                }
            }
        };

        RestoreResult restored = new RestoreOperation(cluster.coordinator(), restoreOptions(), releaseAfterTheWatch)
                .run(GROUP);

        assertThat(restored.releaseFailures()).as("release failures of a restore in which every process runs").isEmpty();
        assertThat(restored.handOverTimeouts()).isEmpty();
        assertThat(cluster.cgroups("h2").forGroup(GROUP).pids()).as("h2's restored processes").hasSize(2);
        Invariants.assertAll(cluster);
    }

    @Test
    void stubsOfAHostKilledAfterTheConfirmRoundDoNotHoldTheNextRestoreBack() throws Exception {
        checkpointAHolderOnH1AndAWaiterAndASleeperOnH2();
        OperationListener killH2sStubsAfterConfirm = new OperationListener() {
            @Override
            public void hostDone(String phase, String hostId, int done, int total, String detail) {
                if (phase.equals("confirm") && done == total) {
                    try {
                        for (int pid : cluster.cgroups("h2").forGroup(GROUP).pids()) {
                            ProcessHandle.of(pid).ifPresent(stub -> {
                                stub.destroyForcibly();
                                stub.onExit().join();
                            });
                        }
                    } catch (java.io.IOException e) {
                        throw new IllegalStateException(e);
                    }
                }
            }
        };
        RestoreResult partial = new RestoreOperation(cluster.coordinator(), restoreOptions(), killH2sStubsAfterConfirm)
                .run(GROUP);
        assertThat(partial.releaseFailures()).as("release failures after h2's stubs died").containsOnlyKeys("h2");
        cluster.killApplications();

        RestoreResult again = new RestoreOperation(cluster.coordinator(), restoreOptions(), OperationListener.SILENT)
                .run(GROUP);

        assertThat(again.releaseFailures()).isEmpty();
        assertThat(cluster.cgroups("h2").forGroup(GROUP).pids()).as("h2's restored processes").hasSize(2);
        Invariants.assertAll(cluster);
    }

    private static RestoreOptions restoreOptions() {
        return RestoreOptions.defaults().withAllowRoot(true).withTimeout(Duration.ofSeconds(30));
    }

    /** h1: an OFD holder; h2: a POSIX waiter for its lock and a sleeper; checkpointed, then all killed. */
    private void checkpointAHolderOnH1AndAWaiterAndASleeperOnH2() throws Exception {
        Path file = export.resolve("data");
        int holder = cluster.run("h1", GROUP, LocalCluster.worker("fd", "1500", file.toString(), "lock", "ofd", "write",
                "1500", "0", "10", "ready", "sleep"));
        cluster.awaitReady("h1", GROUP, holder);
        cluster.run("h2", GROUP, LocalCluster.worker("fd", "1501", file.toString(), "lock", "posix", "write", "1501", "0",
                "10", "ready", "sleep"));
        ProcLocksSnapshot.FileId inode = ProcLocksSnapshot.fileIdOf(file);
        await("h2's POSIX waiter blocks on h1's OFD lock").atMost(Duration.ofSeconds(60))
                .until(() -> ProcLocksSnapshot.read().entries().stream().anyMatch(l -> l.waiter() && inode.lockedBy(l)));
        cluster.runSleepers(GROUP, "h2");
        new CheckpointOperation(cluster.coordinator(), CheckpointOptions.defaults(), OperationListener.SILENT).run(GROUP);
        cluster.killApplications();
    }

    /** Whether a process of the group on {@code host} runs {@code program} (not a stub any more). */
    private boolean runs(String host, String program) throws Exception {
        for (int pid : cluster.cgroups(host).forGroup(GROUP).pids()) {
            try {
                if (Files.readString(Path.of("/proc", Integer.toString(pid), "cmdline")).startsWith(program + "\0")) {
                    return true;
                }
            } catch (java.io.IOException gone) {
                // exited meanwhile
            }
        }
        return false;
    }
}
