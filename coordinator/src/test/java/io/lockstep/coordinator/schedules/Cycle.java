package io.lockstep.coordinator.schedules;

import io.lockstep.coordinator.schedules.FaultKind.Operation;

/**
 * One cycle of a schedule: an operation, the fault injected into it and its moment (a phase
 * boundary plus a delay), and for lasting faults whether they outlast the ZooKeeper session. The
 * delay is drawn as a share (per mille) of what remains of the operation after the boundary, as
 * measured on this cluster ({@link PhaseTimeline}), so that a delayed fault lands inside it. A clock
 * skew is drawn in minutes, ahead or behind; a single stub killed is h2's holder's or its waiter's.
 */
record Cycle(Operation operation, FaultKind fault, String moment, int delayPermille, boolean pastSessionTimeout,
             int clockSkewMinutes, boolean waiterStub) {
    @Override
    public String toString() {
        return operation.name().toLowerCase() + " with " + fault + (fault == FaultKind.NONE ? ""
                : " at " + (moment.equals(FaultKind.START) ? "start" : "end of " + moment)
                + (delayPermille > 0 ? " +" + delayPermille + "‰ of the rest" : "")
                + (fault.hasDuration() ? (pastSessionTimeout ? " (past session timeout)" : " (short)") : "")
                + (fault == FaultKind.CLOCK_SKEW ? " (coordinator's clock " + (clockSkewMinutes > 0 ? "+" : "")
                + clockSkewMinutes + " min)" : "")
                + (fault == FaultKind.ONE_STUB_KILL ? (waiterStub ? " (h2's waiter's stub)" : " (h2's holder's stub)") : ""));
    }
}
