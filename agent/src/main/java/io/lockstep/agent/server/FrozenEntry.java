package io.lockstep.agent.server;

import io.grpc.Status;
import io.lockstep.proto.OpContext;
import io.lockstep.zk.Decision;
import io.lockstep.zk.Decisions;
import io.lockstep.zk.Phase;
import io.lockstep.zk.ZkLayout;
import org.apache.curator.framework.CuratorFramework;
import org.apache.curator.framework.api.transaction.CuratorOp;
import org.apache.zookeeper.KeeperException;
import org.apache.zookeeper.data.Stat;

import java.util.ArrayList;
import java.util.List;
import java.util.Optional;
import java.util.concurrent.Callable;

/**
 * A host enters the freeze barrier ({@code frozen/<host>}) only while its op is still the group's
 * current one: one multi checks that no later op opened the group (the epoch node's version is
 * still the op's epoch) and that the op's coordinator still owns it, and creates the entry; a read
 * after it finds no decision. A Freeze that arrives late — after a watchdog or the coordinator
 * decided the op, after its coordinator is gone, or after a later op opened — is refused, and its
 * caller thaws at once, instead of leaving the group frozen until the decision's watch or the
 * guard thaws it. (The in-memory epoch fence cannot know of a decision or a later op it has not
 * seen yet.) A decision written after the entry is the usual frozen-then-aborted case, which the
 * decision's watch handles.
 */
final class FrozenEntry {
    private FrozenEntry() {
    }

    /**
     * @return whether this host's entry completed the barrier — its count child is the all-frozen
     *     signal ({@link BarrierSignal}) — and the op was not decided
     */
    static boolean enter(CuratorFramework zk, ZkLayout layout, OpContext op, String hostId, List<String> participants)
            throws Exception {
        BarrierSignal barrier = new BarrierSignal(zk, layout, op, Phase.FROZEN, participants.size());
        return checked(zk, layout, op, hostId, () -> barrier.enter(hostId, guards(zk, layout, op)));
    }

    /**
     * A host alone in its op, after its capture and thaw: its frozen and captured entries and both
     * signals in one multi, under the same checks (docs/DESIGN.md, "A host alone in its op").
     */
    static void enterAlone(CuratorFramework zk, ZkLayout layout, OpContext op, String hostId) throws Exception {
        List<CuratorOp> ops = new ArrayList<>(new BarrierSignal(zk, layout, op, Phase.FROZEN, 1)
                .entryOps(hostId, guards(zk, layout, op)));
        ops.addAll(new BarrierSignal(zk, layout, op, Phase.CAPTURED, 1).entryOps(hostId, List.of()));
        checked(zk, layout, op, hostId, () -> {
            zk.transaction().forOperations(ops);
            return true;
        });
    }

    /** No later op opened the group (the epoch node's version), and the op's coordinator still owns it. */
    private static List<CuratorOp> guards(CuratorFramework zk, ZkLayout layout, OpContext op) throws Exception {
        return List.of(
                zk.transactionOp().check().withVersion(Math.toIntExact(op.getEpoch())).forPath(layout.epoch(op.getGroup())),
                zk.transactionOp().check().forPath(layout.owner(op.getGroup(), op.getOpId())));
    }

    /** Runs the entry multi; names a stale epoch or a lost coordinator; refuses (and removes its entries) once decided. */
    private static boolean checked(CuratorFramework zk, ZkLayout layout, OpContext op, String hostId,
                                   Callable<Boolean> entry) throws Exception {
        String group = op.getGroup();
        boolean closed;
        try {
            closed = entry.call();
        } catch (KeeperException.BadVersionException later) {
            Stat epoch = zk.checkExists().forPath(layout.epoch(group));
            throw Status.FAILED_PRECONDITION.withDescription("stale epoch " + op.getEpoch() + " for op " + op.getOpId()
                    + ": a later operation opened group " + group + " (epoch now "
                    + (epoch == null ? "unknown" : epoch.getVersion()) + ") before host " + hostId + " was frozen")
                    .asRuntimeException();
        } catch (KeeperException.NoNodeException ownerGone) {
            throw Status.FAILED_PRECONDITION.withDescription("op " + op.getOpId() + " of group " + group
                    + " lost its coordinator (no " + layout.owner(group, op.getOpId()) + ") before host " + hostId
                    + " was frozen").asRuntimeException();
        }
        Optional<Decision> decided = new Decisions(zk, layout).read(group, op.getOpId());
        if (decided.isPresent()) {
            for (Phase phase : List.of(Phase.CAPTURED, Phase.FROZEN)) {
                zk.delete().quietly().forPath(layout.phaseEntry(group, op.getOpId(), phase, hostId));
            }
            throw Status.FAILED_PRECONDITION.withDescription("op " + op.getOpId() + " of group " + group
                    + " was decided (" + decided.get() + ") before host " + hostId + " was frozen").asRuntimeException();
        }
        return closed;
    }
}
