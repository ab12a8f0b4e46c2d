package io.lockstep.coordinator.schedules;

import io.lockstep.coordinator.schedules.FaultKind.Operation;

/**
 * One cycle of a schedule: an operation, the fault injected into it and its moment (a phase
 * boundary plus a delay), and for lasting faults whether they outlast the ZooKeeper session.
 */
record Cycle(Operation operation, FaultKind fault, String moment, int delayMs, boolean pastSessionTimeout) {
    @Override
    public String toString() {
        return operation.name().toLowerCase() + " with " + fault + (fault == FaultKind.NONE ? ""
                : " at " + (moment.equals(FaultKind.START) ? "start" : "end of " + moment)
                + (delayMs > 0 ? " +" + delayMs + "ms" : "")
                + (fault.hasDuration() ? (pastSessionTimeout ? " (past session timeout)" : " (short)") : ""));
    }
}
