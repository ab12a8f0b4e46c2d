package io.lockstep.agent.server;

import io.grpc.Status;
import io.lockstep.proto.OpContext;
import io.lockstep.zk.Decision;
import io.lockstep.zk.Decisions;
import io.lockstep.zk.Phase;
import io.lockstep.zk.ZkLayout;
import org.apache.curator.framework.CuratorFramework;
import org.apache.curator.framework.api.transaction.CuratorTransactionResult;
import org.apache.zookeeper.KeeperException;
import org.apache.zookeeper.data.Stat;

import java.util.List;
import java.util.Optional;

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
     * @return whether {@code all-frozen} exists now: this host's entry completed the barrier and it
     *     created the signal ({@link BarrierSignal}), and the op was not decided
     */
    static boolean enter(CuratorFramework zk, ZkLayout layout, OpContext op, String hostId, List<String> participants)
            throws Exception {
        String group = op.getGroup();
        String entry = layout.phaseEntry(group, op.getOpId(), Phase.FROZEN, hostId);
        BarrierSignal barrier = new BarrierSignal(zk, layout, op, Phase.FROZEN, participants);
        List<CuratorTransactionResult> results;
        try {
            results = zk.transaction().forOperations(barrier.entryOps(hostId, List.of(
                    zk.transactionOp().check().withVersion(Math.toIntExact(op.getEpoch())).forPath(layout.epoch(group)),
                    zk.transactionOp().check().forPath(layout.owner(group, op.getOpId())))));
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
            zk.delete().quietly().forPath(entry);
            throw Status.FAILED_PRECONDITION.withDescription("op " + op.getOpId() + " of group " + group
                    + " was decided (" + decided.get() + ") before host " + hostId + " was frozen").asRuntimeException();
        }
        return barrier.closeIfLast(results, hostId);
    }
}
