package io.lockstep.coordinator.op;


/**
 * Progress and outcome of an operation, per phase and host: drives the CLI's live display, the
 * logs and the metrics, so that none of them is part of the protocol's logic.
 */
public interface OperationListener {
    OperationListener SILENT = new OperationListener() {
    };

    /** The operation holds the group and has its id and fencing epoch; phases follow. */
    default void opened(String kind, String group, String opId, long epoch) {
    }

    /** A phase started for {@code total} hosts. */
    default void phaseStarted(String phase, int total) {
    }

    /** One host finished a phase; {@code done} of {@code total} have. */
    default void hostDone(String phase, String hostId, int done, int total, String detail) {
    }

    default void phaseEnded(String phase, long micros) {
    }

    default void checkpointCommitted(CheckpointResult result) {
    }

    default void restoreCommitted(RestoreResult result) {
    }

    /** The operation ended without a commit (an {@link OperationFailedException} says why), or never began. */
    default void failed(String kind, String group, Exception failure) {
    }

    /** Events go to this listener, then to {@code next}. */
    default OperationListener and(OperationListener next) {
        OperationListener first = this;
        return new OperationListener() {
            @Override
            public void opened(String kind, String group, String opId, long epoch) {
                first.opened(kind, group, opId, epoch);
                next.opened(kind, group, opId, epoch);
            }

            @Override
            public void phaseStarted(String phase, int total) {
                first.phaseStarted(phase, total);
                next.phaseStarted(phase, total);
            }

            @Override
            public void hostDone(String phase, String hostId, int done, int total, String detail) {
                first.hostDone(phase, hostId, done, total, detail);
                next.hostDone(phase, hostId, done, total, detail);
            }

            @Override
            public void phaseEnded(String phase, long micros) {
                first.phaseEnded(phase, micros);
                next.phaseEnded(phase, micros);
            }

            @Override
            public void checkpointCommitted(CheckpointResult result) {
                first.checkpointCommitted(result);
                next.checkpointCommitted(result);
            }

            @Override
            public void restoreCommitted(RestoreResult result) {
                first.restoreCommitted(result);
                next.restoreCommitted(result);
            }

            @Override
            public void failed(String kind, String group, Exception failure) {
                first.failed(kind, group, failure);
                next.failed(kind, group, failure);
            }
        };
    }
}
