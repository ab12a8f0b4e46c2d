package io.lockstep.coordinator.restore;

import io.lockstep.coordinator.checkpoint.CheckpointOperation;
import io.lockstep.coordinator.checkpoint.CheckpointOptions;
import io.lockstep.coordinator.op.FailureReason;
import io.lockstep.coordinator.op.OperationFailedException;
import io.lockstep.coordinator.op.OperationListener;
import io.lockstep.coordinator.testing.Invariants;
import io.lockstep.coordinator.testing.LocalCluster;
import io.lockstep.coordinator.testing.PhaseTrigger;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

import java.util.List;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

/**
 * A stub that dies after prepare (the OOM killer, a kill by the application's uid) has dropped its
 * locks: the confirm round right before the commit finds it, and the restore aborts.
 */
class DeadStubConfirmTest {
    private LocalCluster cluster;

    @AfterEach
    void tearDown() throws Exception {
        if (cluster != null) {
            cluster.close();
        }
    }

    @Test
    void aStubKilledAfterPrepareAbortsTheRestoreNamingItsHost() throws Exception {
        cluster = LocalCluster.start("h1");
        cluster.run("h1", "app", List.of("/bin/sleep", "600"));
        new CheckpointOperation(cluster.coordinator(), CheckpointOptions.defaults(), OperationListener.SILENT).run("app");
        cluster.killApplications();
        PhaseTrigger killStubs = new PhaseTrigger("end:prepare", () -> {
            for (long stub : Invariants.stubPids(cluster)) {
                ProcessHandle.of(stub).ifPresent(process -> {
                    process.destroyForcibly();
                    process.onExit().join();
                });
            }
        });

        assertThatThrownBy(() -> new RestoreOperation(cluster.coordinator(), RestoreOptions.defaults().withAllowRoot(true),
                killStubs).run("app"))
                .isInstanceOfSatisfying(OperationFailedException.class, e -> {
                    assertThat(e.reason()).isEqualTo(FailureReason.STAGE_FAILED);
                    assertThat(e.hostId()).contains("h1");
                    assertThat(e.getMessage()).contains("has exited after prepare");
                });
        assertThat(Invariants.decisions(cluster, "app")).last().satisfies(d -> assertThat(d.isCommit()).isFalse());
        Invariants.assertAll(cluster);
    }
}
