package io.lockstep.agent.server;

import io.grpc.Status;
import io.lockstep.agent.snapshot.GroupSnapshots;
import io.lockstep.agent.snapshot.SnapshotException;
import io.lockstep.proto.DeleteSnapshotsReply;
import io.lockstep.proto.DeleteSnapshotsRequest;
import io.lockstep.proto.SnapshotDeletion;
import io.lockstep.zk.SnapshotDeletions;
import io.lockstep.zk.ZkLayout;
import java.util.List;
import java.util.Optional;
import org.apache.curator.framework.CuratorFramework;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Deletes this host's snapshots of checkpoints that left the catalog (issue 15, retention): what
 * {@code groups/<g>/snapshot-deletions/<id>/<this host>} records, on the coordinator's call and again when this
 * agent starts (a host that was down at delete time catches up). A checkpoint still in the catalog keeps its
 * snapshots, whatever a record says.
 */
final class SnapshotRetention {
    private static final Logger LOG = LoggerFactory.getLogger(SnapshotRetention.class);

    private final AgentConfig config;
    private final CuratorFramework zk;
    private final ZkLayout layout;
    private final GroupSnapshots snapshots;
    private final SnapshotDeletions deletions;

    SnapshotRetention(AgentConfig config, CuratorFramework zk, ZkLayout layout) {
        this.config = config;
        this.zk = zk;
        this.layout = layout;
        this.snapshots = CaptureSnapshots.groupSnapshots(config);
        this.deletions = new SnapshotDeletions(zk, layout);
    }

    DeleteSnapshotsReply delete(DeleteSnapshotsRequest request) throws Exception {
        String group = request.getGroup();
        String id = ZkLayout.checkName("checkpoint", request.getCheckpointId());
        DeleteSnapshotsReply.Builder reply = DeleteSnapshotsReply.newBuilder().setHostId(config.hostId());
        Optional<SnapshotDeletion> recorded = deletions.read(group, id, config.hostId());
        if (recorded.isEmpty()) {
            return reply.build();
        }
        if (zk.checkExists().forPath(layout.checkpoint(group, id)) != null) {
            throw Status.FAILED_PRECONDITION.withDescription("host " + config.hostId() + " keeps the snapshots of"
                    + " checkpoint " + id + " of group " + group + ": the checkpoint is still in the catalog ("
                    + layout.checkpoint(group, id) + "), and its snapshots are deleted only with it").asRuntimeException();
        }
        List<String> deleted;
        try {
            deleted = snapshots.deleteRecorded(id, recorded.get().getSnapshotsList());
        } catch (SnapshotException e) {
            throw Status.ABORTED.withDescription("deleting the snapshots of checkpoint " + id + " of group " + group
                    + " on host " + config.hostId() + " failed: " + e.getMessage() + "; still recorded at "
                    + layout.snapshotDeletion(group, id, config.hostId())).asRuntimeException();
        }
        deletions.remove(group, id, config.hostId());
        LOG.info("group {} host {}: deleted the snapshots of checkpoint {}, which left the catalog: {}", group,
                config.hostId(), id, deleted);
        return reply.addAllDeleted(deleted).build();
    }

    /** At start-up: deletes what was recorded for this host while it was down; failures stay recorded. */
    void catchUp(List<String> groups) {
        for (String group : groups) {
            try {
                for (SnapshotDeletions.Pending pending : deletions.list(group)) {
                    if (pending.host().equals(config.hostId())) {
                        delete(DeleteSnapshotsRequest.newBuilder().setGroup(group).setCheckpointId(pending.checkpointId())
                                .build());
                    }
                }
            } catch (Exception e) {
                LOG.warn("group {} host {}: snapshots of deleted checkpoints not deleted at start-up (the next delete or"
                        + " retention of the group retries): {}", group, config.hostId(), e.getMessage());
            }
        }
    }
}
