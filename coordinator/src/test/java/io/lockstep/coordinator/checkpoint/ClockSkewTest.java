package io.lockstep.coordinator.checkpoint;

import io.lockstep.coordinator.op.CheckpointResult;
import io.lockstep.coordinator.op.CoordinatorContext;
import io.lockstep.coordinator.op.OperationListener;
import io.lockstep.coordinator.op.RestoreResult;
import io.lockstep.coordinator.restore.RestoreOperation;
import io.lockstep.coordinator.restore.RestoreOptions;
import io.lockstep.coordinator.testing.Invariants;
import io.lockstep.coordinator.testing.LocalCluster;
import org.junit.jupiter.api.Test;

import java.time.Clock;
import java.time.Duration;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * Deadlines travel as durations: the agents' clocks running a minute ahead of the coordinator's
 * (here: the coordinator's a minute behind) changes no deadline.
 */
class ClockSkewTest {
    @Test
    void agentsWhoseClocksRunAMinuteAheadOfTheCoordinatorsStillCheckpointAndRestore() throws Exception {
        try (LocalCluster cluster = LocalCluster.startTwoHostsRunning("app")) {
            CoordinatorContext real = cluster.coordinator();
            CoordinatorContext behind = CoordinatorContext.create(real.zk(), real.layout(), real.store(),
                    Clock.offset(Clock.systemUTC(), Duration.ofMinutes(-1)));

            CheckpointResult checkpoint = new CheckpointOperation(behind, CheckpointOptions.defaults(),
                    OperationListener.SILENT).run("app");
            assertThat(checkpoint.hosts()).containsExactly("h1", "h2");
            Invariants.assertAll(cluster);

            cluster.killApplications();
            RestoreResult restored = new RestoreOperation(behind, RestoreOptions.defaults().withAllowRoot(true),
                    OperationListener.SILENT).run("app");
            assertThat(restored.processesByHost()).containsOnlyKeys("h1", "h2");
            Invariants.assertAll(cluster);
        }
    }
}
