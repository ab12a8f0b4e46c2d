package io.lockstep.coordinator.metrics;

import io.lockstep.coordinator.checkpoint.CheckpointOperation;
import io.lockstep.coordinator.op.CheckpointResult;
import io.lockstep.coordinator.op.FailureReason;
import io.lockstep.coordinator.op.OperationFailedException;
import io.lockstep.coordinator.op.OperationListener;
import io.lockstep.coordinator.restore.RestoreOperation;
import io.lockstep.coordinator.op.RestoreResult;
import io.lockstep.metrics.DurationBuckets;
import io.micrometer.core.instrument.Counter;
import io.micrometer.core.instrument.DistributionSummary;
import io.micrometer.core.instrument.Timer;
import io.micrometer.prometheusmetrics.PrometheusConfig;
import io.micrometer.prometheusmetrics.PrometheusMeterRegistry;

import java.util.List;
import java.util.concurrent.TimeUnit;

/**
 * The coordinator's Prometheus metrics, fed by an {@link OperationListener} per operation:
 * operations by kind, outcome and failure reason, phase durations, the frozen window, and the
 * locks and files of each checkpoint.
 */
public final class CoordinatorMetrics {
    private static final String CHECKPOINT = CheckpointOperation.KIND;
    private static final String RESTORE = RestoreOperation.KIND;
    /** The reason label of a failure that is not one of {@link FailureReason}'s (a bug or an I/O error). */
    static final String INTERNAL = "INTERNAL";

    private final PrometheusMeterRegistry registry = new PrometheusMeterRegistry(PrometheusConfig.DEFAULT);
    private final Timer frozenWindow;
    private final DistributionSummary checkpointLocks;
    private final DistributionSummary checkpointFiles;
    private final DistributionSummary restoreLocks;

    public CoordinatorMetrics() {
        // Every series exists from the start, so that rate() and alerts see zeros, not gaps.
        for (String kind : List.of(CHECKPOINT, RESTORE)) {
            operations(kind, "committed", "none");
            for (FailureReason reason : FailureReason.values()) {
                operations(kind, "failed", reason.name());
            }
            operations(kind, "failed", INTERNAL);
        }
        frozenWindow = Timer.builder("lockstep.frozen.window")
                .description("First freeze to last thaw of each committed checkpoint, over all hosts")
                .serviceLevelObjectives(DurationBuckets.get())
                .register(registry);
        checkpointLocks = DistributionSummary.builder("lockstep.checkpoint.locks")
                .description("Locks (held and waited for) in each committed checkpoint").register(registry);
        checkpointFiles = DistributionSummary.builder("lockstep.checkpoint.files")
                .description("Open files in each committed checkpoint").register(registry);
        restoreLocks = DistributionSummary.builder("lockstep.restore.locks")
                .description("Locks re-taken by each committed restore").register(registry);
    }

    public PrometheusMeterRegistry registry() {
        return registry;
    }

    /** A listener for one operation (it remembers the operation's kind for its phases). */
    public OperationListener listener() {
        return new Recorder();
    }

    private Counter operations(String kind, String outcome, String reason) {
        return Counter.builder("lockstep.operations")
                .description("Operations that ended, by kind, outcome and failure reason")
                .tags("kind", kind, "outcome", outcome, "reason", reason)
                .register(registry);
    }

    private final class Recorder implements OperationListener {
        private volatile String kind = "unknown";

        @Override
        public void opened(String kind, String group, String opId, long epoch) {
            this.kind = kind;
        }

        @Override
        public void phaseEnded(String phase, long micros) {
            Timer.builder("lockstep.phase")
                    .description("Duration of each phase over all hosts, by operation kind")
                    .tags("kind", kind, "phase", phase)
                    .serviceLevelObjectives(DurationBuckets.get())
                    .register(registry)
                    .record(micros, TimeUnit.MICROSECONDS);
        }

        @Override
        public void checkpointCommitted(CheckpointResult result) {
            operations(CHECKPOINT, "committed", "none").increment();
            frozenWindow.record(result.frozenWindowMicros(), TimeUnit.MICROSECONDS);
            checkpointLocks.record(result.locks());
            checkpointFiles.record(result.files());
        }

        @Override
        public void restoreCommitted(RestoreResult result) {
            operations(RESTORE, "committed", "none").increment();
            restoreLocks.record(result.locksByHost().values().stream().mapToInt(Integer::intValue).sum());
        }

        @Override
        public void failed(String kind, String group, Exception failure) {
            String reason = failure instanceof OperationFailedException known ? known.reason().name() : INTERNAL;
            operations(kind, "failed", reason).increment();
        }
    }
}
