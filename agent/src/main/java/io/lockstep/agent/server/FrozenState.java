package io.lockstep.agent.server;

import io.lockstep.agent.cgroup.ArmedGuard;
import io.lockstep.agent.cgroup.FreezeResult;
import io.lockstep.proto.OpContext;

import java.util.List;

/**
 * A group armed (guard running, not yet frozen: {@code result} null) or frozen for one checkpoint
 * operation: what to undo when it thaws, and who else takes part (the barriers this host may close).
 */
record FrozenState(OpContext op, List<String> participants, ArmedGuard guard, OpWatch watch, FreezeResult result,
                   long startedUnixMicros) {
    boolean frozen() {
        return result != null;
    }

    FrozenState frozenWith(FreezeResult freezeResult, long startedMicros) {
        return new FrozenState(op, participants, guard, watch, freezeResult, startedMicros);
    }
}
