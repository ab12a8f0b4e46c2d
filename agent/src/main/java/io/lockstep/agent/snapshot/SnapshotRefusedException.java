package io.lockstep.agent.snapshot;

/** A snapshot refused before anything was written, e.g. a copy above the configured size bound. */
public final class SnapshotRefusedException extends SnapshotException {
    public SnapshotRefusedException(String message) {
        super(message);
    }
}
