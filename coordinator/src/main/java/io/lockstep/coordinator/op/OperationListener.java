package io.lockstep.coordinator.op;

/** Progress of an operation, per phase and host: drives the CLI's live display and the logs. */
public interface OperationListener {
    OperationListener SILENT = new OperationListener() {
    };

    /** A phase started for {@code total} hosts. */
    default void phaseStarted(String phase, int total) {
    }

    /** One host finished a phase; {@code done} of {@code total} have. */
    default void hostDone(String phase, String hostId, int done, int total, String detail) {
    }

    default void phaseEnded(String phase, long micros) {
    }
}
