package io.lockstep.zk;

import io.lockstep.proto.SnapshotDeletion;
import io.lockstep.proto.SnapshotRecord;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;
import org.apache.curator.framework.CuratorFramework;
import org.apache.curator.framework.api.transaction.CuratorOp;
import org.apache.zookeeper.KeeperException;

/**
 * Snapshots of checkpoints that left the catalog, still to be deleted on the host that took them
 * ({@code groups/<group>/snapshot-deletions/<checkpoint-id>/<host>}). The coordinator records them in the
 * transaction that removes the catalog entry, so a host that is down then is not forgotten; the agent removes a
 * record once it deleted what it names.
 */
public final class SnapshotDeletions {
    /** One host's snapshots of one checkpoint, still to be deleted. */
    public record Pending(String group, String checkpointId, String host) {
    }

    private final CuratorFramework zk;
    private final ZkLayout layout;

    public SnapshotDeletions(CuratorFramework zk, ZkLayout layout) {
        this.zk = zk;
        this.layout = layout;
    }

    /**
     * The transaction operations that record {@code snapshots} of {@code host} for deletion (their file lists
     * left out: deleting needs only where they are). Needs {@link #ensureParent} first.
     */
    public List<CuratorOp> recordOps(String group, String checkpointId, List<SnapshotDeletion> byHost) throws Exception {
        List<CuratorOp> ops = new ArrayList<>();
        if (byHost.isEmpty()) {
            return ops;
        }
        ops.add(zk.transactionOp().create().forPath(layout.snapshotDeletions(group, checkpointId)));
        for (SnapshotDeletion deletion : byHost) {
            ops.add(zk.transactionOp().create().forPath(layout.snapshotDeletion(group, checkpointId, deletion.getHostId()),
                    ZkJson.toBytes(deletion)));
        }
        return ops;
    }

    /** What a host's snapshots of a checkpoint look like in a deletion record: where they are, not their files. */
    public static SnapshotDeletion of(String checkpointId, String host, List<SnapshotRecord> snapshots, long nowMillis) {
        SnapshotDeletion.Builder deletion = SnapshotDeletion.newBuilder().setCheckpointId(checkpointId).setHostId(host)
                .setRecordedUnixMs(nowMillis);
        snapshots.forEach(s -> deletion.addSnapshots(s.toBuilder().clearFiles()));
        return deletion.build();
    }

    /** Creates {@code groups/<group>/snapshot-deletions} if it does not exist. */
    public void ensureParent(String group) throws Exception {
        try {
            zk.create().forPath(layout.snapshotDeletions(group));
        } catch (KeeperException.NodeExistsException exists) {
            // Another deletion made it.
        }
    }

    /** Every pending deletion of the group, oldest checkpoint id first. */
    public List<Pending> list(String group) throws Exception {
        List<Pending> pending = new ArrayList<>();
        for (String id : children(layout.snapshotDeletions(group)).stream().sorted().toList()) {
            for (String host : children(layout.snapshotDeletions(group, id)).stream().sorted().toList()) {
                pending.add(new Pending(group, id, host));
            }
        }
        return pending;
    }

    public Optional<SnapshotDeletion> read(String group, String checkpointId, String host) throws Exception {
        String path = layout.snapshotDeletion(group, checkpointId, host);
        try {
            return Optional.of(ZkJson.parse(zk.getData().forPath(path), SnapshotDeletion.getDefaultInstance(), path));
        } catch (KeeperException.NoNodeException gone) {
            return Optional.empty();
        }
    }

    /** Removes a host's record once its snapshots are deleted, and the checkpoint's node once it has none left. */
    public void remove(String group, String checkpointId, String host) throws Exception {
        try {
            zk.delete().forPath(layout.snapshotDeletion(group, checkpointId, host));
        } catch (KeeperException.NoNodeException gone) {
            // Removed by an earlier call.
        }
        try {
            zk.delete().forPath(layout.snapshotDeletions(group, checkpointId));
        } catch (KeeperException.NoNodeException | KeeperException.NotEmptyException othersLeft) {
            // Gone already, or another host's snapshots still wait.
        }
    }

    private List<String> children(String path) throws Exception {
        try {
            return zk.getChildren().forPath(path);
        } catch (KeeperException.NoNodeException none) {
            return List.of();
        }
    }
}
