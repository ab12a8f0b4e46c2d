package io.lockstep.coordinator.schedules;

import io.lockstep.coordinator.op.OperationListener;

import java.util.LinkedHashMap;
import java.util.Map;

/**
 * When the moments of one operation were reached (its first phase's start, each phase's end) and
 * when it returned: what remains of an operation after each moment, for drawing a fault's delay
 * within the operation's own measured phase lengths.
 */
final class PhaseTimeline implements OperationListener {
    private final Map<String, Long> reachedNanos = new LinkedHashMap<>();
    private long endedNanos;

    @Override
    public synchronized void phaseStarted(String phase, int total) {
        reachedNanos.putIfAbsent(FaultKind.START, System.nanoTime());
    }

    @Override
    public synchronized void phaseEnded(String phase, long micros) {
        reachedNanos.put(phase, System.nanoTime());
    }

    /** The operation returned. */
    synchronized void ended() {
        endedNanos = System.nanoTime();
    }

    /** Milliseconds from each moment reached to the operation's return. */
    synchronized Map<String, Long> remainingMillis() {
        Map<String, Long> remaining = new LinkedHashMap<>();
        reachedNanos.forEach((moment, at) -> remaining.put(moment, Math.max(0, (endedNanos - at) / 1_000_000)));
        return remaining;
    }
}
