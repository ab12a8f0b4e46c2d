package io.lockstep.agent.server;

import io.lockstep.proto.OpContext;
import io.lockstep.zk.Phase;
import io.lockstep.zk.ZkLayout;
import org.apache.curator.framework.CuratorFramework;
import org.apache.curator.framework.api.transaction.CuratorOp;
import org.apache.curator.framework.api.transaction.CuratorTransactionResult;
import org.apache.curator.framework.api.transaction.OperationType;
import org.apache.zookeeper.CreateMode;
import org.apache.zookeeper.KeeperException;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.util.ArrayList;
import java.util.List;

/**
 * The host whose entry completes a checkpoint barrier ({@code frozen}, {@code captured}) creates
 * its signal node ({@code all-frozen}, {@code all-captured}) itself, so that no coordinator round
 * trip sits between the phases of the frozen window (docs/DESIGN.md, "Checkpoint").
 * <p>
 * Which host that is: each host creates its entry in a multi that also sets the data of the
 * barrier's parent node, and the version that set leaves is the number of entries made so far
 * (entries are never counted twice: a retried multi fails on its existing entry). The host that
 * counts the last participant closes. Its close is one more multi that checks the op's owner, the
 * epoch and every participant's entry, and creates the signal: so the signal exists only while
 * every host is in the barrier, whoever creates it. A host alone in the op creates the signal in
 * the multi of its own entry. Nobody lists the barrier's children; the coordinator still creates
 * the signal when no host did (a close that failed), and NodeExists is fine for both.
 */
final class BarrierSignal {
    private static final Logger LOG = LoggerFactory.getLogger(BarrierSignal.class);

    private final CuratorFramework zk;
    private final ZkLayout layout;
    private final OpContext op;
    private final Phase phase;
    private final List<String> participants;

    BarrierSignal(CuratorFramework zk, ZkLayout layout, OpContext op, Phase phase, List<String> participants) {
        this.zk = zk;
        this.layout = layout;
        this.op = op;
        this.phase = phase;
        this.participants = List.copyOf(participants);
    }

    /** The signal node this barrier ends in. */
    String signalPath() {
        return phase == Phase.FROZEN ? layout.allFrozen(op.getGroup(), op.getOpId())
                : layout.allCaptured(op.getGroup(), op.getOpId());
    }

    /** A host alone in the op completes the barrier with its own entry. */
    boolean alone() {
        return participants.size() == 1;
    }

    /**
     * What a host's entry multi holds after {@code guards} (checks that must pass): the entry, the
     * count, and — for a host alone in the op — the signal itself.
     */
    List<CuratorOp> entryOps(String hostId, List<CuratorOp> guards) throws Exception {
        List<CuratorOp> ops = new ArrayList<>(guards);
        ops.add(zk.transactionOp().create().withMode(CreateMode.EPHEMERAL)
                .forPath(layout.phaseEntry(op.getGroup(), op.getOpId(), phase, hostId)));
        ops.add(zk.transactionOp().setData().forPath(layout.phase(op.getGroup(), op.getOpId(), phase), new byte[0]));
        if (alone()) {
            ops.add(zk.transactionOp().create().withMode(CreateMode.PERSISTENT).forPath(signalPath()));
        }
        return ops;
    }

    /** The entry count after this host's entry multi: the version its set of the barrier's parent left. */
    int countAfter(List<CuratorTransactionResult> results) {
        for (CuratorTransactionResult result : results) {
            if (result.getType() == OperationType.SET_DATA && result.getResultStat() != null) {
                return result.getResultStat().getVersion();
            }
        }
        return 0;
    }

    /**
     * After this host's entry multi: creates the signal when this entry completed the barrier.
     *
     * @return whether the signal exists now (this host created it, or found it created); false
     *     when this host is not the last, or its close failed (a participant's entry or the owner is
     *     gone, a later op opened, ZooKeeper trouble): the coordinator then finds out and names why
     */
    boolean closeIfLast(List<CuratorTransactionResult> entryResults, String hostId) {
        if (alone()) {
            return true;
        }
        if (countAfter(entryResults) < participants.size()) {
            return false;
        }
        List<CuratorOp> ops = new ArrayList<>();
        try {
            ops.add(zk.transactionOp().check().forPath(layout.owner(op.getGroup(), op.getOpId())));
            ops.add(zk.transactionOp().check().withVersion(Math.toIntExact(op.getEpoch())).forPath(layout.epoch(op.getGroup())));
            for (String participant : participants) {
                ops.add(zk.transactionOp().check().forPath(layout.phaseEntry(op.getGroup(), op.getOpId(), phase, participant)));
            }
            ops.add(zk.transactionOp().create().withMode(CreateMode.PERSISTENT).forPath(signalPath()));
            zk.transaction().forOperations(ops);
            return true;
        } catch (KeeperException.NodeExistsException closedAlready) {
            return true;
        } catch (Exception e) {
            LOG.info("op {} host {}: counted the last {} entry but did not create {} ({}); the coordinator checks the "
                    + "barrier", op.getOpId(), hostId, phase.node(), signalPath(), e.toString());
            return false;
        }
    }
}
