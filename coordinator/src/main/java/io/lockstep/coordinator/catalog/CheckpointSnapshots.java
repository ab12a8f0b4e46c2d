package io.lockstep.coordinator.catalog;

import io.lockstep.coordinator.agents.AgentCallException;
import io.lockstep.coordinator.op.CoordinatorContext;
import io.lockstep.proto.CatalogEntry;
import io.lockstep.proto.DeleteSnapshotsReply;
import io.lockstep.proto.DeleteSnapshotsRequest;
import io.lockstep.proto.HostRecord;
import io.lockstep.proto.Manifest;
import io.lockstep.proto.SnapshotDeletion;
import io.lockstep.proto.SnapshotRecord;
import io.lockstep.zk.SnapshotDeletions;
import java.io.IOException;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The snapshots of checkpoints that retention or {@code coordinator delete} removes (issue 15). They live on the
 * hosts that took them, so each host's agent deletes its own: the coordinator records them in ZooKeeper with the
 * catalog entry's removal ({@link SnapshotDeletions}) and then asks each agent; a host that is down or fails keeps
 * its record, which the next delete or retention of the group, and the agent when it starts, retry.
 */
public final class CheckpointSnapshots {
    private static final Logger LOG = LoggerFactory.getLogger(CheckpointSnapshots.class);
    /** Long enough for an operator's delete commands (each bounded by the agent at 60 s). */
    static final Duration DELETE_TIMEOUT = Duration.ofMinutes(2);

    /**
     * What became of the snapshots: deleted ("checkpoint X on host H: location, …"), left where they are (each
     * naming host, locations, why and the ZooKeeper record that keeps them due), and checkpoints whose
     * snapshots could not be known (their manifests unreadable).
     */
    public record Outcome(List<String> deleted, List<String> left, List<String> unknown) {
        Outcome withUnknown(List<String> more) {
            List<String> all = new ArrayList<>(unknown);
            all.addAll(more);
            return new Outcome(deleted, left, List.copyOf(all));
        }
    }

    private final CoordinatorContext ctx;
    private final SnapshotDeletions deletions;

    CheckpointSnapshots(CoordinatorContext ctx) {
        this.ctx = ctx;
        this.deletions = new SnapshotDeletions(ctx.zk(), ctx.layout());
    }

    /**
     * The snapshots the checkpoint's manifests record, per host that took them. A manifest that cannot be read
     * adds a line to {@code unknown}: the checkpoint is still deleted (the operator asked for it, or retention
     * found its manifests present), and the line tells what may be left on that host.
     */
    List<SnapshotDeletion> recordedIn(CatalogEntry entry, List<String> unknown) {
        Map<String, Manifest> manifests;
        try {
            manifests = new Catalog(ctx).manifests(entry);
        } catch (IOException e) {
            unknown.add("checkpoint " + entry.getCheckpointId() + ": its snapshots are unknown, as its manifests cannot"
                    + " be read (" + e.getMessage() + "); look for .lockstep-snapshots/" + entry.getCheckpointId()
                    + "* on its hosts' file systems and index/" + entry.getCheckpointId() + "-* in their agents' copy"
                    + " stores");
            return List.of();
        }
        long now = ctx.clock().millis();
        List<SnapshotDeletion> byHost = new ArrayList<>();
        manifests.forEach((host, manifest) -> {
            List<SnapshotRecord> snapshots = manifest.getSnapshotsList();
            if (!snapshots.isEmpty()) {
                byHost.add(SnapshotDeletions.of(entry.getCheckpointId(), host, snapshots, now));
            }
        });
        return byHost;
    }

    /** Asks each host with a pending deletion in the group to carry it out. */
    Outcome deletePending(String group) throws Exception {
        List<String> deleted = new ArrayList<>();
        List<String> left = new ArrayList<>();
        for (SnapshotDeletions.Pending pending : deletions.list(group)) {
            Optional<SnapshotDeletion> record = deletions.read(group, pending.checkpointId(), pending.host());
            if (record.isEmpty()) {
                continue;
            }
            String what = "checkpoint " + pending.checkpointId() + " on host " + pending.host();
            List<String> locations = record.get().getSnapshotsList().stream().map(SnapshotRecord::getLocation).toList();
            Optional<HostRecord> host = ctx.directory().host(pending.host());
            Optional<String> failure;
            if (host.isEmpty()) {
                failure = Optional.of("host " + pending.host() + " is not registered (its agent is down)");
            } else {
                try {
                    DeleteSnapshotsReply reply = ctx.clients().forHost(host.get()).deleteSnapshots(
                            DeleteSnapshotsRequest.newBuilder().setGroup(group).setCheckpointId(pending.checkpointId())
                                    .build(), DELETE_TIMEOUT);
                    failure = Optional.empty();
                    deleted.add(what + ": " + String.join(", ", reply.getDeletedList()));
                } catch (AgentCallException e) {
                    failure = Optional.of(e.getMessage());
                }
            }
            if (failure.isPresent()) {
                String line = what + ": " + String.join(", ", locations) + " not deleted: " + failure.get()
                        + "; recorded at " + ctx.layout().snapshotDeletion(group, pending.checkpointId(), pending.host())
                        + ", retried by the next delete or retention of group " + group + " and when that agent starts";
                LOG.warn("snapshots of {}", line);
                left.add(line);
            }
        }
        return new Outcome(deleted, left, List.of());
    }
}
