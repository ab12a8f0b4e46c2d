package io.lockstep.agent.server;

import io.lockstep.proto.OpContext;
import io.lockstep.zk.Phase;
import io.lockstep.zk.ZkLayout;
import org.apache.curator.framework.CuratorFramework;
import org.apache.curator.framework.api.transaction.CuratorOp;
import org.apache.curator.framework.api.transaction.CuratorTransactionResult;
import org.apache.curator.framework.api.transaction.OperationType;
import org.apache.zookeeper.CreateMode;

import java.util.ArrayList;
import java.util.List;

/**
 * A host's entry in a checkpoint barrier ({@code frozen}, {@code captured}), and the barrier's
 * signal ({@code all-frozen}, {@code all-captured}) with no write of its own (docs/DESIGN.md,
 * "Checkpoint"). Each host creates its entry in one multi that also adds a persistent sequential
 * child to the barrier's count ({@link ZkLayout#phaseCount}); the n-th entry made adds child n-1,
 * so the signal of a barrier of n participants is that child's creation: it exists once every
 * participant made its entry, each under the checks the caller puts first (the op's owner and
 * epoch). No close follows the last entry, so the last host pays one ZooKeeper write per barrier
 * inside the window, and nobody lists the barrier's children: every host watches one path.
 * <p>
 * Entries are never counted twice: a retried multi fails on its existing entry, and a failed
 * multi changes nothing. The signal does not say that every entry still exists (a host whose
 * session expired thawed, and its ephemeral entry went): the commit multi checks every captured
 * entry, so no checkpoint commits with such a host.
 */
final class BarrierSignal {
    private final CuratorFramework zk;
    private final ZkLayout layout;
    private final OpContext op;
    private final Phase phase;
    private final int participants;

    BarrierSignal(CuratorFramework zk, ZkLayout layout, OpContext op, Phase phase, int participants) {
        this.zk = zk;
        this.layout = layout;
        this.op = op;
        this.phase = phase;
        this.participants = participants;
    }

    /** The signal node this barrier ends in. */
    String signalPath() {
        return layout.phaseCounted(op.getGroup(), op.getOpId(), phase, participants);
    }

    /**
     * Enters the barrier: the entry multi ({@link #entryOps}).
     *
     * @return whether this entry completed the barrier: its count child is the signal
     */
    boolean enter(String hostId, List<CuratorOp> guards) throws Exception {
        List<CuratorTransactionResult> results = zk.transaction().forOperations(entryOps(hostId, guards));
        String signal = signalPath();
        return results.stream().anyMatch(result -> result.getType() == OperationType.CREATE
                && signal.equals(result.getResultPath()));
    }

    /** What a host's entry multi holds after {@code guards} (checks that must pass): the entry and its count child. */
    List<CuratorOp> entryOps(String hostId, List<CuratorOp> guards) throws Exception {
        List<CuratorOp> ops = new ArrayList<>(guards);
        ops.add(zk.transactionOp().create().withMode(CreateMode.EPHEMERAL)
                .forPath(layout.phaseEntry(op.getGroup(), op.getOpId(), phase, hostId)));
        ops.add(zk.transactionOp().create().withMode(CreateMode.PERSISTENT_SEQUENTIAL)
                .forPath(layout.phaseCountChild(op.getGroup(), op.getOpId(), phase)));
        return ops;
    }
}
