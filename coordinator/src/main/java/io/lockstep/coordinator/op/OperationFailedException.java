package io.lockstep.coordinator.op;

import java.util.Optional;

/** An operation that ended without a commit: why, which host was at fault (if one was), and the decision. */
public class OperationFailedException extends Exception {
    private final FailureReason reason;
    private final String hostId;

    public OperationFailedException(FailureReason reason, String hostId, String message, Throwable cause) {
        super(message, cause);
        this.reason = reason;
        this.hostId = hostId;
    }

    public OperationFailedException(FailureReason reason, String hostId, String message) {
        this(reason, hostId, message, null);
    }

    public FailureReason reason() {
        return reason;
    }

    public Optional<String> hostId() {
        return Optional.ofNullable(hostId);
    }
}
