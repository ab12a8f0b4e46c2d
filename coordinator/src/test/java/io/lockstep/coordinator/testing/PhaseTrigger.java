package io.lockstep.coordinator.testing;

import io.lockstep.coordinator.op.OperationListener;

import java.util.concurrent.atomic.AtomicBoolean;

/**
 * An operation listener that runs one fault, once, at a phase boundary: when a phase starts
 * ({@code "start:capture"}) or ends ({@code "end:capture"}). It runs on the coordinator's own
 * thread, so the operation goes on only after the fault is in place.
 */
public final class PhaseTrigger implements OperationListener {
    /** The fault; may throw anything a test fixture throws. */
    @FunctionalInterface
    public interface Fault {
        void inject() throws Exception;
    }

    private final String boundary;
    private final Fault fault;
    private final AtomicBoolean fired = new AtomicBoolean();

    public PhaseTrigger(String boundary, Fault fault) {
        if (!boundary.startsWith("start:") && !boundary.startsWith("end:")) {
            throw new IllegalArgumentException("boundary must be start:<phase> or end:<phase>, not " + boundary);
        }
        this.boundary = boundary;
        this.fault = fault;
    }

    public boolean fired() {
        return fired.get();
    }

    @Override
    public void phaseStarted(String phase, int total) {
        at("start:" + phase);
    }

    @Override
    public void phaseEnded(String phase, long micros) {
        at("end:" + phase);
    }

    private void at(String reached) {
        if (reached.equals(boundary) && fired.compareAndSet(false, true)) {
            try {
                fault.inject();
            } catch (Exception e) {
                throw new IllegalStateException("fault at " + boundary + " could not be injected", e);
            }
        }
    }
}
