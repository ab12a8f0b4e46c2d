package io.lockstep.coordinator.restore;

import io.lockstep.coordinator.checkpoint.CheckpointOperation;
import io.lockstep.coordinator.checkpoint.CheckpointOptions;
import io.lockstep.coordinator.op.OperationFailedException;
import io.lockstep.coordinator.op.OperationListener;
import io.lockstep.coordinator.op.RestoreResult;
import io.lockstep.coordinator.testing.Invariants;
import io.lockstep.coordinator.testing.LocalCluster;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;


import static org.assertj.core.api.Assertions.assertThat;

/**
 * Stubs that die after the last confirm answer, when nothing checks them any more before the
 * commit: the agents release on the COMMIT at once (their watch on the decision), so the deaths
 * land either before the commit (the agents' own watch may abort it) or in its release. Whichever
 * it is, a restore whose programs do not run is never reported as plain success.
 */
class ReleaseFailureTest {
    private LocalCluster cluster;

    @AfterEach
    void tearDown() throws Exception {
        if (cluster != null) {
            cluster.close();
        }
    }

    @Test
    void stubsKilledAfterTheCommitAreReportedAsAFailedReleaseOfACommittedRestore() throws Exception {
        cluster = LocalCluster.startTwoHostsRunning("app");
        new CheckpointOperation(cluster.coordinator(), CheckpointOptions.defaults(), OperationListener.SILENT).run("app");
        cluster.killApplications();
        OperationListener killStubsAfterTheLastConfirm = new OperationListener() {
            @Override
            public void hostDone(String phase, String hostId, int done, int total, String detail) {
                if (phase.equals("confirm") && done == total) {
                    for (long stub : Invariants.stubPids(cluster)) {
                        ProcessHandle.of(stub).ifPresent(ProcessHandle::destroyForcibly);
                    }
                }
            }
        };

        RestoreResult restored;
        try {
            restored = new RestoreOperation(cluster.coordinator(), RestoreOptions.defaults().withAllowRoot(true),
                    killStubsAfterTheLastConfirm).run("app");
        } catch (OperationFailedException aborted) {
            assertThat(Invariants.decisions(cluster, "app")).anyMatch(d -> !d.isCommit());
            Invariants.assertAll(cluster);
            return;
        }
        assertThat(restored.fullyReleased()).as("committed with dead stubs: never plain success").isFalse();
        assertThat(restored.releaseFailures()).containsOnlyKeys("h1", "h2");
        Invariants.assertAll(cluster);
    }
}
