package io.lockstep.agent.server;

import io.lockstep.agent.cgroup.ArmedGuard;
import io.lockstep.agent.cgroup.FreezeResult;
import io.lockstep.proto.OpContext;

/**
 * A group armed (guard running, not yet frozen: {@code result} null) or frozen for one checkpoint
 * operation: what to undo when it thaws.
 */
record FrozenState(OpContext op, ArmedGuard guard, OpWatch watch, FreezeResult result, long startedUnixMicros) {
    boolean frozen() {
        return result != null;
    }

    FrozenState frozenWith(FreezeResult freezeResult, long startedMicros) {
        return new FrozenState(op, guard, watch, freezeResult, startedMicros);
    }
}
