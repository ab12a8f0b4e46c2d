package io.lockstep.agent.cgroup;

import java.io.IOException;
import java.time.Instant;

/**
 * Holds a group's processes still and lets them go again. Arm a {@link FreezeGuard} before
 * {@link #freeze}, so the group thaws at its maximum frozen time even if this JVM dies; cancel it
 * after {@link #thaw}.
 */
public interface Freezer {
    Backend backend();

    /**
     * Freezes the group and waits until the kernel reports every task frozen.
     *
     * @throws FreezeTimeoutException when the group is not frozen by the deadline (or the deadline
     *     had passed before the freeze started); the group is thawed again before it is thrown,
     *     and the exception names the tasks that did not freeze
     */
    FreezeResult freeze(Instant deadline) throws IOException;

    /** Lets the group run again. Idempotent: thawing a thawed group does nothing. */
    void thaw() throws IOException;

    boolean isFrozen() throws IOException;

    /** A /bin/sh command line that thaws the group without this JVM: what a {@link FreezeGuard} runs. */
    String thawScript() throws IOException;
}
