package io.lockstep.agent.cgroup;

import java.io.IOException;
import java.time.Instant;

/** A group's guard for one freeze: it thaws the group at {@link #firesAt()} unless cancelled first. */
public interface ArmedGuard {
    /** The earliest moment the guard thaws the group: the latest deadline for the freeze it guards. */
    Instant firesAt();

    /** {@code wanted}, or the guard's firing time if that comes first. */
    default Instant capDeadline(Instant wanted) {
        return wanted.isBefore(firesAt()) ? wanted : firesAt();
    }

    /** Still waiting to thaw: neither cancelled nor run out. */
    boolean isArmed();

    /**
     * Stops the guard.
     *
     * @return true when it was stopped before it thawed the group; false when it had already run
     *     out and thawed it — the freeze it guarded is then lost and the operation must abort
     */
    boolean cancel() throws IOException;
}
