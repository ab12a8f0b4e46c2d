package io.lockstep.agent.server;

import io.grpc.Status;
import io.grpc.StatusRuntimeException;
import io.lockstep.agent.capture.CaptureException;
import io.lockstep.agent.nativeio.NativeException;
import io.lockstep.agent.restore.PlanRefusedException;
import io.lockstep.agent.restore.StubException;
import io.lockstep.manifest.ManifestFormatException;
import org.apache.zookeeper.KeeperException;
import org.junit.jupiter.api.Test;

import java.io.IOException;
import java.util.LinkedHashMap;
import java.util.Map;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * Rule: each kind of agent failure reaches the coordinator as the status it acts on (bad input is
 * not retried, a failed capture aborts, ZooKeeper trouble is unavailable), with a message naming
 * the host and the call, and the original error as its cause. A status a participant chose keeps its code and
 * gains host and call too.
 */
class GrpcErrorsTest {
    @Test
    void eachFailureKindBecomesItsStatusNamingHostAndCall() {
        Map<Throwable, Status.Code> expected = new LinkedHashMap<>();
        expected.put(new ManifestFormatException("bad magic"), Status.Code.INVALID_ARGUMENT);
        expected.put(new PlanRefusedException("fd 3 outside the allowed roots"), Status.Code.INVALID_ARGUMENT);
        expected.put(new IllegalArgumentException("group name '../x'"), Status.Code.INVALID_ARGUMENT);
        expected.put(new CaptureException(42, "pid 42 vanished", null), Status.Code.ABORTED);
        expected.put(new StubException(43, "stub 43 exited", null), Status.Code.ABORTED);
        expected.put(new NativeException("fcntl", "/data/db", 11, "resource busy"), Status.Code.ABORTED);
        expected.put(KeeperException.create(KeeperException.Code.CONNECTIONLOSS, "/lockstep/groups/app"),
                Status.Code.UNAVAILABLE);
        expected.put(new IOException("disk full"), Status.Code.INTERNAL);
        expected.put(new NullPointerException("a bug"), Status.Code.INTERNAL);

        expected.forEach((error, code) -> {
            StatusRuntimeException status = GrpcErrors.toStatus("h1", "Stage", error);

            assertThat(status.getStatus().getCode()).as(error.toString()).isEqualTo(code);
            assertThat(status.getStatus().getDescription()).isEqualTo("host h1: Stage: " + error.getMessage());
            assertThat(status.getStatus().getCause()).isSameAs(error);
        });
    }

    @Test
    void aStatusChosenByAParticipantKeepsItsCodeAndCauseAndGainsHostAndCall() {
        IllegalStateException cause = new IllegalStateException("frozen by ckpt-2");
        StatusRuntimeException chosen = Status.FAILED_PRECONDITION.withDescription("group app is already frozen for op ckpt-2")
                .withCause(cause).asRuntimeException();

        StatusRuntimeException answer = GrpcErrors.toStatus("h1", "Freeze", chosen);

        assertThat(answer.getStatus().getCode()).isEqualTo(Status.Code.FAILED_PRECONDITION);
        assertThat(answer.getStatus().getDescription()).isEqualTo("host h1: Freeze: group app is already frozen for op ckpt-2");
        assertThat(answer.getStatus().getCause()).isSameAs(cause);
        assertThat(GrpcErrors.toStatus("h1", "Freeze", answer)).as("an answer that names host and call already").isSameAs(answer);
    }
}
