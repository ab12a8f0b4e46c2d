package io.lockstep.coordinator.restore;

import io.lockstep.coordinator.checkpoint.CheckpointOperation;
import io.lockstep.coordinator.checkpoint.CheckpointOptions;
import io.lockstep.coordinator.op.OperationListener;
import io.lockstep.coordinator.op.RestoreResult;
import io.lockstep.coordinator.testing.Invariants;
import io.lockstep.coordinator.testing.LocalCluster;
import io.lockstep.coordinator.testing.PhaseTrigger;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

import java.util.List;

import static org.assertj.core.api.Assertions.assertThat;

/** A stub that dies between the commit and the release: the restore is committed, but never reported as plain success. */
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
        cluster = LocalCluster.start("h1", "h2");
        for (String host : List.of("h1", "h2")) {
            cluster.run(host, "app", List.of("/bin/sleep", "600"));
        }
        new CheckpointOperation(cluster.coordinator(), CheckpointOptions.defaults(), OperationListener.SILENT).run("app");
        cluster.killApplications();
        PhaseTrigger killStubs = new PhaseTrigger("end:commit", () -> {
            for (long stub : Invariants.stubPids(cluster)) {
                ProcessHandle.of(stub).ifPresent(ProcessHandle::destroyForcibly);
            }
        });

        RestoreResult restored = new RestoreOperation(cluster.coordinator(), RestoreOptions.defaults().withAllowRoot(true),
                killStubs).run("app");

        assertThat(restored.fullyReleased()).isFalse();
        assertThat(restored.releaseFailures()).containsOnlyKeys("h1", "h2");
        Invariants.assertAll(cluster);
    }
}
