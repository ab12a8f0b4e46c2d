package io.lockstep.coordinator.faults;

import io.lockstep.coordinator.checkpoint.CheckpointOperation;
import io.lockstep.coordinator.checkpoint.CheckpointOptions;
import io.lockstep.coordinator.op.OperationListener;
import io.lockstep.coordinator.testing.GroupUsable;
import io.lockstep.coordinator.testing.Invariants;
import io.lockstep.coordinator.testing.LocalCluster;
import io.lockstep.coordinator.testing.PausingCoordinator;
import io.lockstep.coordinator.testing.ProcLocksSnapshot;
import io.lockstep.zk.Decision;
import io.lockstep.zk.Decisions;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.TestInstance;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

/**
 * A coordinator JVM SIGKILLed at the phase boundaries CheckpointFaultsTest and RestoreFaultsTest
 * do not cover (those cover the ends of freeze, capture and commit of a checkpoint and of prepare
 * and commit of a restore): right after the op was opened, after the freeze guards were armed,
 * after the thaw, after validate, after stage and after release. A second coordinator then finds
 * the group usable; an op nobody but the dead coordinator knew of is decided ABORT by its stale-op
 * clean-up, and nothing is left frozen, staged or locked.
 */
@TestInstance(TestInstance.Lifecycle.PER_CLASS)
class CoordinatorCrashBoundariesTest {
    /** What StaleOperations writes; an agent's watchdog writes its own reason. */
    private static final String STALE_OP_REASON = "coordinator lost before a decision";

    private LocalCluster cluster;
    private Process coordinator;

    @BeforeAll
    void startCluster() throws Exception {
        cluster = LocalCluster.start("h1", "h2");
    }

    @AfterEach
    void killCoordinator() throws InterruptedException {
        if (coordinator != null) {
            coordinator.destroyForcibly().waitFor();
        }
    }

    @AfterAll
    void stopCluster() throws Exception {
        cluster.close();
    }

    @ParameterizedTest(name = "checkpoint coordinator killed at {0}")
    @CsvSource({
            "start:freeze,  false, true",
            "start:capture, false, false",
            "end:thaw,      false, false",
            "end:commit,    true,  false",
    })
    void aSecondCoordinatorCheckpointsAfterTheFirstDiedAt(String boundary, boolean committed, boolean onlyTheCoordinatorKnew)
            throws Exception {
        String group = "ck-" + boundary.replace(':', '-');
        cluster.runSleepers(group, "h1", "h2");
        pauseCoordinatorAt(group, boundary, false);
        coordinator.destroyForcibly().waitFor();

        Invariants.assertNothingFrozen(cluster);
        GroupUsable.checkpointCommits(cluster, group);
        assertFirstOpDecided(group, 1, committed, onlyTheCoordinatorKnew);
        Invariants.assertAll(cluster);
    }

    @ParameterizedTest(name = "restore coordinator killed at {0}")
    @CsvSource({
            "start:validate, false, true",
            "end:validate,   false, true",
            "end:stage,      false, false",
            "end:release,    true,  false",
    })
    void aSecondCoordinatorRestoresAfterTheFirstDiedAt(String boundary, boolean committed, boolean onlyTheCoordinatorKnew)
            throws Exception {
        String group = "rs-" + boundary.replace(':', '-');
        Path data = Files.createDirectories(cluster.dir().resolve("export")).resolve(group + ".data");
        int holder = cluster.run("h1", group, LocalCluster.worker("fd", "500", data.toString(), "lock", "posix", "write",
                "500", "0", "10", "ready", "sleep"));
        cluster.run("h2", group, List.of("/bin/sleep", "600"));
        cluster.awaitReady("h1", group, holder);
        new CheckpointOperation(cluster.coordinator(), CheckpointOptions.defaults(), OperationListener.SILENT).run(group);
        for (String host : List.of("h1", "h2")) {
            cluster.cgroups(host).forGroup(group).killAll(Duration.ofSeconds(10));
        }
        ProcLocksSnapshot.FileId inode = ProcLocksSnapshot.fileIdOf(data);
        await("the checkpointed holder's lock is gone with it").atMost(Duration.ofSeconds(20))
                .until(() -> !ProcLocksSnapshot.heldOn(inode));

        pauseCoordinatorAt(group, boundary, true);
        coordinator.destroyForcibly().waitFor();

        Invariants.assertNoStubs(cluster);
        if (!committed) {
            await("the dead coordinator's restore leaves no lock on " + data).atMost(Duration.ofSeconds(30))
                    .until(() -> !ProcLocksSnapshot.heldOn(inode));
            GroupUsable.restoreCommits(cluster, group);
        }
        await("the restored holder holds its lock on " + data).atMost(Duration.ofSeconds(30))
                .until(() -> ProcLocksSnapshot.heldOn(inode));
        GroupUsable.checkpointCommits(cluster, group);
        assertFirstOpDecided(group, 2, committed, onlyTheCoordinatorKnew);
        Invariants.assertAll(cluster);
    }

    private void pauseCoordinatorAt(String group, String boundary, boolean restore) throws Exception {
        Path out = cluster.dir().resolve("coordinator-" + group + ".out");
        coordinator = new ProcessBuilder(PausingCoordinator.command(cluster, group, boundary, restore)).redirectErrorStream(true)
                .redirectOutput(out.toFile()).start();
        await("coordinator reaches " + boundary).atMost(Duration.ofSeconds(90))
                .until(() -> Files.readString(out).contains("PAUSED " + boundary) || !coordinator.isAlive());
        assertThat(coordinator.isAlive()).as(Files.readString(out)).isTrue();
    }

    /** The dead coordinator's op: decided, truthfully, and by the stale-op clean-up where no agent had a watch on it. */
    private void assertFirstOpDecided(String group, long epoch, boolean committed, boolean onlyTheCoordinatorKnew)
            throws Exception {
        String op = Invariants.opOfEpoch(cluster, group, epoch);
        Decision decision = new Decisions(cluster.coordinator().zk(), cluster.layout()).read(group, op)
                .orElseThrow(() -> new AssertionError("op " + op + " of the dead coordinator was never decided"));
        assertThat(decision.isCommit()).as("decision " + decision).isEqualTo(committed);
        if (onlyTheCoordinatorKnew) {
            assertThat(decision.reason()).contains(STALE_OP_REASON);
        }
        assertThat(Invariants.decisions(cluster, group))
                .hasSize(cluster.coordinator().zk().getChildren().forPath(cluster.layout().ops(group)).size());
    }

}
