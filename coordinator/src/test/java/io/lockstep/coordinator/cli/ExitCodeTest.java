package io.lockstep.coordinator.cli;

import io.lockstep.coordinator.op.FailureReason;
import io.lockstep.coordinator.op.OperationFailedException;
import io.lockstep.coordinator.store.StoreCorruptionException;
import io.lockstep.zk.ZkUnavailableException;
import org.junit.jupiter.api.Test;

import java.util.Arrays;

import static org.assertj.core.api.Assertions.assertThat;

class ExitCodeTest {
    @Test
    void codesAreDistinct() {
        assertThat(Arrays.stream(ExitCode.values()).map(ExitCode::code)).doesNotHaveDuplicates();
    }

    @Test
    void failureReasonsMapToTheirOwnCodes() {
        assertThat(ExitCode.of(FailureReason.NO_PARTICIPANTS)).isEqualTo(ExitCode.NO_AGENTS);
        assertThat(ExitCode.of(FailureReason.UNKNOWN_GROUP)).isEqualTo(ExitCode.NO_AGENTS);
        assertThat(ExitCode.of(FailureReason.PROCESSES_GONE)).isEqualTo(ExitCode.NO_AGENTS);
        assertThat(ExitCode.of(FailureReason.GROUP_RUNNING).code()).isEqualTo(12);
        assertThat(ExitCode.of(FailureReason.GROUP_BUSY)).isEqualTo(ExitCode.GROUP_BUSY);
        assertThat(ExitCode.of(FailureReason.VALIDATION_FAILED)).isEqualTo(ExitCode.RESTORE_REFUSED);
        assertThat(ExitCode.of(FailureReason.LOCK_CONFLICT)).isEqualTo(ExitCode.LOCK_CONFLICT);
        assertThat(ExitCode.of(FailureReason.BARRIER_TIMEOUT)).isEqualTo(ExitCode.TIMEOUT);
        assertThat(ExitCode.of(FailureReason.COMMIT_FAILED)).isEqualTo(ExitCode.ABORTED);
        // A bug is an internal error (exit 1), never a ZooKeeper or operation failure.
        assertThat(ExitCode.of(FailureReason.INTERNAL)).isEqualTo(ExitCode.INTERNAL_ERROR);
        for (FailureReason reason : FailureReason.values()) {
            if (reason == FailureReason.INTERNAL) {
                continue;
            }
            assertThat(ExitCode.of(reason)).as(reason.name()).isNotIn(ExitCode.OK, ExitCode.INTERNAL_ERROR, ExitCode.USAGE);
        }
    }

    @Test
    void errorsBecomeOneLineNamingTheHostAtFault() {
        ErrorReporter.Report freeze = ErrorReporter.classify(new OperationFailedException(FailureReason.FREEZE_FAILED,
                "host-b", "freeze barrier not full by its deadline"));
        assertThat(freeze.exit()).isEqualTo(ExitCode.ABORTED);
        assertThat(freeze.message()).isEqualTo("freeze barrier not full by its deadline (host host-b)");

        assertThat(ErrorReporter.classify(new ZkUnavailableException("no answer")).exit()).isEqualTo(ExitCode.ZK_UNAVAILABLE);
        assertThat(ErrorReporter.classify(new StoreCorruptionException("bad digest")).exit())
                .isEqualTo(ExitCode.CHECKPOINT_UNUSABLE);
        assertThat(ErrorReporter.classify(new IllegalStateException("bug")).exit()).isEqualTo(ExitCode.INTERNAL_ERROR);
    }
}
