package io.lockstep.agent.server;

import io.grpc.Status;
import io.grpc.StatusRuntimeException;
import io.lockstep.proto.OpContext;
import org.junit.jupiter.api.Test;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

/** Rule (docs/DESIGN.md, Invariants): no agent acts on an epoch older than the newest it has seen. */
class EpochFenceTest {
    private final EpochFence fence = new EpochFence();

    private static OpContext ctx(String group, long epoch) {
        return OpContext.newBuilder().setGroup(group).setOpId("ckpt-" + epoch).setEpoch(epoch).build();
    }

    @Test
    void anOlderEpochIsRefusedOnceANewerOneWasSeen() {
        fence.admit(ctx("app", 7));

        assertThatThrownBy(() -> fence.admit(ctx("app", 6)))
                .isInstanceOfSatisfying(StatusRuntimeException.class,
                        e -> assertThat(e.getStatus().getCode()).isEqualTo(Status.Code.FAILED_PRECONDITION))
                .hasMessageContaining("stale epoch 6 for group app (op ckpt-6)")
                .hasMessageContaining("has seen epoch 7");
        assertThat(fence.newest("app")).as("a refused epoch never lowers the fence").isEqualTo(7);
    }

    @Test
    void theSameAndNewerEpochsPassAndRaiseTheFence() {
        fence.admit(ctx("app", 3));
        fence.admit(ctx("app", 3));
        fence.admit(ctx("app", 9));

        assertThat(fence.newest("app")).isEqualTo(9);
    }

    @Test
    void anEpochObservedInZooKeeperFencesACoordinatorThisAgentNeverTalkedTo() {
        fence.observe("app", 12);
        fence.observe("app", 4);

        assertThat(fence.newest("app")).as("observe never lowers").isEqualTo(12);
        assertThatThrownBy(() -> fence.admit(ctx("app", 11))).hasMessageContaining("has seen epoch 12");
    }

    @Test
    void groupsAreFencedIndependently() {
        fence.admit(ctx("a", 50));

        fence.admit(ctx("b", 1));

        assertThat(fence.newest("b")).isEqualTo(1);
        assertThat(fence.newest("unknown")).isZero();
    }
}
