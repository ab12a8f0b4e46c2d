package io.lockstep.agent.hooks;

/** A pre-freeze hook that failed, timed out or was not acknowledged; the message names pid, program and what happened (the RPC's answer adds the host). */
public final class HookFailedException extends Exception {
    public HookFailedException(String message) {
        super(message);
    }
}
