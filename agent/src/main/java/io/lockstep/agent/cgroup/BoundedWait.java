package io.lockstep.agent.cgroup;

import java.io.IOException;
import java.io.InterruptedIOException;
import java.time.Duration;
import java.time.Instant;
import java.util.concurrent.locks.LockSupport;

/** A timed wait on a condition only the kernel can change: re-check after every wake, false at the deadline. */
final class BoundedWait {
    /** First pause: a freeze of a few idle tasks completes in tens of microseconds. */
    private static final long FIRST_PAUSE_NANOS = 20_000;
    /** Longest pause: keeps the answer within a few ms of the kernel's without spinning on a stuck group. */
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
        long pause = FIRST_PAUSE_NANOS;
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
            pause = Math.min(pause * 2, MAX_PAUSE_NANOS);
        }
    }

    static boolean until(Condition condition, Duration timeout) throws IOException {
        return until(condition, Instant.now().plus(timeout));
    }
}
