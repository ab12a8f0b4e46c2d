package io.lockstep.agent.restore;

import io.lockstep.proto.StubLock;

/**
 * What a stub answered to PREPARE. On CONFLICT and TIMEOUT it holds none of the round's locks,
 * and {@code lock}, {@code path} and {@code holderPid} (-1 when unknown) name what stopped it.
 */
public record PrepareOutcome(Result result, int locksHeld, StubLock lock, String path, int holderPid,
                             String message) {
    public enum Result { PREPARED, CONFLICT, TIMEOUT }

    public boolean prepared() {
        return result == Result.PREPARED;
    }
}
