package io.lockstep.agent.restore;

/** A manifest entry that cannot or must not be restored; the message names the process, fd and path. */
public final class PlanRefusedException extends Exception {
    public PlanRefusedException(String message) {
        super(message);
    }
}
