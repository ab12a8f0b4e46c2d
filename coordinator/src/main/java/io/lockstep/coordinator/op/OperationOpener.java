package io.lockstep.coordinator.op;

import io.lockstep.proto.LockHolder;
import io.lockstep.proto.OpKind;
import io.lockstep.proto.OpRecord;
import io.lockstep.zk.Phase;
import io.lockstep.zk.ZkJson;
import io.lockstep.zk.ZkLayout;
import org.apache.curator.framework.CuratorFramework;
import org.apache.curator.framework.api.transaction.CuratorOp;
import org.apache.zookeeper.CreateMode;
import org.apache.zookeeper.KeeperException;
import org.apache.zookeeper.data.Stat;

import java.util.ArrayList;
import java.util.List;
import java.util.function.Function;

/**
 * Step "Open": bumps the group's epoch (the version of groups/<g>/epoch) and writes the op record,
 * its owner node and its barrier parents in one transaction.
 */
public final class OperationOpener {
    private final CuratorFramework zk;
    private final ZkLayout layout;
    private final OpIds ids;

    public OperationOpener(CuratorFramework zk, ZkLayout layout) {
        this(zk, layout, OpIds.random());
    }

    public OperationOpener(CuratorFramework zk, ZkLayout layout, OpIds ids) {
        this.zk = zk;
        this.layout = layout;
        this.ids = ids;
    }

    /**
     * Opens the op while {@code lock} is held: the transaction fails if the lock was lost meanwhile;
     * it also writes {@code holderFor(op id)} into the lock.
     */
    public OpenedOperation open(String group, OpRecord.Builder template, GroupLock lock,
                                Function<String, LockHolder> holderFor) throws Exception {
        lock.requireHeld();
        String epochPath = layout.epoch(group);
        Stat current = zk.checkExists().forPath(epochPath);
        if (current == null) {
            try {
                zk.create().creatingParentContainersIfNeeded().withMode(CreateMode.PERSISTENT).forPath(epochPath);
            } catch (KeeperException.NodeExistsException createdConcurrently) {
                // Another coordinator created it first; the versioned update below decides.
            }
            current = zk.checkExists().forPath(epochPath);
        }
        long epoch = current.getVersion() + 1L;
        OpRecord record = template.clone().setEpoch(epoch).setOpId(ids.next(template.getKind(), epoch, template.getOpenedUnixMs())).build();
        String op = record.getOpId();
        List<CuratorOp> ops = new ArrayList<>();
        ops.add(lock.describing(holderFor.apply(op)));
        // The versioned setData makes the epoch bump and the op creation one atomic step: a
        // concurrent opener fails here instead of getting the same epoch.
        ops.add(zk.transactionOp().setData().withVersion(current.getVersion()).forPath(epochPath, new byte[0]));
        ops.add(zk.transactionOp().create().withMode(CreateMode.PERSISTENT).forPath(layout.op(group, op), ZkJson.toBytes(record)));
        ops.add(zk.transactionOp().create().withMode(CreateMode.EPHEMERAL).forPath(layout.owner(group, op),
                record.getCoordinatorId().getBytes(java.nio.charset.StandardCharsets.UTF_8)));
        for (Phase phase : Phase.values()) {
            ops.add(zk.transactionOp().create().withMode(CreateMode.PERSISTENT).forPath(layout.phase(group, op, phase)));
        }
        if (record.getKind() == OpKind.CHECKPOINT) {
            for (Phase counted : Phase.CHECKPOINT) {
                ops.add(zk.transactionOp().create().withMode(CreateMode.PERSISTENT).forPath(layout.phaseCount(group, op, counted)));
            }
        }
        try {
            try {
                zk.transaction().forOperations(ops);
            } catch (KeeperException.NoNodeException noOpsParent) {
                // The ops container is made only when missing (a new group, or ZooKeeper removed it empty).
                lock.requireHeld();
                zk.createContainers(layout.ops(group));
                zk.transaction().forOperations(ops);
            }
        } catch (KeeperException.BadVersionException | KeeperException.NodeExistsException
                 | KeeperException.NoNodeException raced) {
            lock.requireHeld();
            throw new OperationFailedException(FailureReason.GROUP_BUSY, null,
                    "another coordinator opened an operation on group " + group + " at the same time");
        }
        lock.described();
        return new OpenedOperation(group, record);
    }
}
