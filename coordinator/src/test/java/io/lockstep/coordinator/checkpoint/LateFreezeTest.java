package io.lockstep.coordinator.checkpoint;

import io.lockstep.coordinator.op.FailureReason;
import io.lockstep.coordinator.op.OperationFailedException;
import io.lockstep.coordinator.testing.GroupUsable;
import io.lockstep.coordinator.testing.Invariants;
import io.lockstep.coordinator.testing.LocalCluster;
import io.lockstep.coordinator.testing.PhaseTrigger;
import org.junit.jupiter.api.Test;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.catchThrowableOfType;

/**
 * A Freeze that arrives after its op is no longer the group's current one is refused when the host
 * enters the freeze barrier (`FrozenEntry`: one multi checks the epoch and the op's owner, a read
 * after it finds no decision), and the host thaws at once. The agents' in-memory epoch fence only
 * knows the epochs it has seen: here a later operation opens (the epoch moves) after the open and before
 * the Freeze calls go out (the group has no hooks, so no round comes between), which no agent has seen yet. Before (fe299fd) both hosts froze, captured and thawed,
 * and only the commit multi refused the checkpoint.
 */
class LateFreezeTest {
    @Test
    void aFreezeAfterALaterOperationOpenedIsRefusedWhenTheHostEntersTheBarrierAndTheHostThaws() throws Exception {
        try (LocalCluster cluster = LocalCluster.startTwoHostsRunning("app")) {
            // What a later operation's open does to the group's epoch node; no agent has seen it.
            PhaseTrigger laterOpOpens = new PhaseTrigger("start:freeze",
                    () -> cluster.coordinator().zk().setData().forPath(cluster.layout().epoch("app"), new byte[0]));

            OperationFailedException refused = catchThrowableOfType(OperationFailedException.class,
                    () -> new CheckpointOperation(cluster.coordinator(), CheckpointOptions.defaults(), laterOpOpens).run("app"));

            assertThat(laterOpOpens.fired()).isTrue();
            assertThat(refused).as("the checkpoint whose op a later one superseded before the freeze").isNotNull();
            assertThat(refused.reason()).isEqualTo(FailureReason.STALE_EPOCH);
            // The freeze is one call: the agent's admission reads the moved epoch (its fence), or, should the epoch
            // move inside the call, FrozenEntry's multi refuses (FrozenEntryTest sets that case up directly).
            assertThat(refused.getMessage()).contains("Freeze on host h").containsPattern(
                    "this agent has seen epoch 2|a later operation opened group app \\(epoch now 2\\) before host h");
            Invariants.assertNothingFrozen(cluster);
            GroupUsable.checkpointCommits(cluster, "app");
            Invariants.assertAll(cluster);
        }
    }
}
