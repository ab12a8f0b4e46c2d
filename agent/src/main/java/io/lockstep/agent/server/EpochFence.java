package io.lockstep.agent.server;

import io.grpc.Status;
import io.grpc.StatusRuntimeException;
import io.lockstep.proto.OpContext;

import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;

/**
 * No agent acts on an epoch older than the newest it has seen for the group: fencing against a
 * stale coordinator. The newest epoch also advances from ZooKeeper (groups/<g>/epoch), so an
 * agent that never talked to the newer coordinator still refuses the older one.
 */
public final class EpochFence {
    private final Map<String, Long> newest = new ConcurrentHashMap<>();

    /**
     * Accepts the context if its epoch is not older than any seen, and records it.
     *
     * @throws StatusRuntimeException FAILED_PRECONDITION "stale epoch" otherwise
     */
    public void admit(OpContext ctx) {
        long[] refusedAgainst = {-1};
        newest.compute(ctx.getGroup(), (group, seen) -> {
            if (seen != null && ctx.getEpoch() < seen) {
                refusedAgainst[0] = seen;
                return seen;
            }
            return seen == null ? ctx.getEpoch() : Math.max(seen, ctx.getEpoch());
        });
        if (refusedAgainst[0] >= 0) {
            throw Status.FAILED_PRECONDITION.withDescription("stale epoch " + ctx.getEpoch() + " for group "
                    + ctx.getGroup() + " (op " + ctx.getOpId() + "): this agent has seen epoch " + refusedAgainst[0])
                    .asRuntimeException();
        }
    }

    /** Raises the newest epoch known for a group (from ZooKeeper); never lowers it. */
    public void observe(String group, long epoch) {
        newest.merge(group, epoch, Math::max);
    }

    public long newest(String group) {
        return newest.getOrDefault(group, 0L);
    }
}
