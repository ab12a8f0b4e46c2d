package io.lockstep.agent.snapshot;

/** A roll-back that failed before any current file was replaced: the files are as they were. */
public final class RollBackException extends SnapshotException {
    public RollBackException(String message, Throwable cause) {
        super(message, cause);
    }
}
