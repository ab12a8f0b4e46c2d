package io.lockstep.agent.snapshot;

import java.io.IOException;

/** A snapshot, roll-back or deletion that failed; the message names the data path, engine and file at fault. */
public class SnapshotException extends IOException {
    public SnapshotException(String message) {
        super(message);
    }

    public SnapshotException(String message, Throwable cause) {
        super(message, cause);
    }
}
