package io.lockstep.agent.cgroup;

import java.io.IOException;
import java.io.InterruptedIOException;
import java.time.Duration;
import java.time.Instant;
import java.util.concurrent.locks.LockSupport;

/** A timed wait on a condition only the kernel can change: re-check after every wake, false at the deadline. */
final class BoundedWait {
    /**
     * Pause between the first checks: about the kernel's default timer slack (50 µs), below
     * which a park does not get shorter. Freezes mostly complete within the first millisecond.
     */
    private static final long SHORT_PAUSE_NANOS = 50_000;
    /** Checks at the short pause before backing off, covering that first millisecond. */
    private static final int SHORT_CHECKS = 20;
    /** Longest pause: the answer comes within a few ms of the kernel's without spinning on a stuck group. */
    private static final long MAX_PAUSE_NANOS = 4_000_000;

    @FunctionalInterface
    interface Condition {
        boolean holds() throws IOException;
    }

    private BoundedWait() {
    }

    /** Checks at least once, even when the deadline has passed; returns whether the condition held in time. */
    static boolean until(Condition condition, Instant deadline) throws IOException {
        long end = System.nanoTime() + Math.max(0, Duration.between(Instant.now(), deadline).toNanos());
        long pause = SHORT_PAUSE_NANOS;
        int checks = 0;
        while (true) {
            if (condition.holds()) {
                return true;
            }
            long remaining = end - System.nanoTime();
            if (remaining <= 0) {
                return false;
            }
            LockSupport.parkNanos(Math.min(pause, remaining));
            if (Thread.interrupted()) {
                Thread.currentThread().interrupt();
                throw new InterruptedIOException("interrupted while waiting for the kernel");
            }
            if (++checks > SHORT_CHECKS) {
                pause = Math.min(pause * 2, MAX_PAUSE_NANOS);
            }
        }
    }

    static boolean until(Condition condition, Duration timeout) throws IOException {
        return until(condition, Instant.now().plus(timeout));
    }
}
