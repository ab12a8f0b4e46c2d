package io.lockstep.coordinator.checkpoint;

import io.lockstep.coordinator.op.AgentFanout;
import io.lockstep.coordinator.op.FailureReason;
import io.lockstep.coordinator.op.OpenedOperation;
import io.lockstep.coordinator.op.OperationFailedException;
import io.lockstep.proto.HooksReply;
import io.lockstep.proto.HooksRequest;

import java.time.Duration;
import java.util.Locale;

/**
 * The step before any host is armed or frozen (docs/DESIGN.md, "Application hooks"): every agent
 * runs the pre-freeze hooks of the group's processes on its host and answers when each program is
 * ready — at once when none has hooks. So the hooks never lengthen the frozen window, and a
 * program that does not answer in time aborts the checkpoint ({@link FailureReason#HOOK_FAILED},
 * naming host, pid and program) while nothing is frozen.
 */
final class PreFreezeHooks {
    private final AgentFanout fanout;
    private final OpenedOperation op;

    PreFreezeHooks(AgentFanout fanout, OpenedOperation op) {
        this.fanout = fanout;
        this.op = op;
    }

    /** @param remaining the operation's time left: bounds the round, and tells agents when to give up on a decision */
    void run(Duration remaining) throws OperationFailedException {
        long start = System.nanoTime();
        HooksRequest request = HooksRequest.newBuilder().setCtx(op.context()).setTimeoutMs(remaining.toMillis()).build();
        fanout.all("hooks", FailureReason.HOOK_FAILED, (host, agent) -> agent.runHooks(request, remaining),
                PreFreezeHooks::describe);
        fanout.phaseEnded("hooks", start);
    }

    private static String describe(HooksReply reply) {
        return reply.getHooks() == 0 ? "no hooks" : reply.getHooks() + " hooks ready in "
                + String.format(Locale.ROOT, "%.1f ms", reply.getHooksMicros() / 1000.0);
    }
}
