package io.lockstep.coordinator.catalog;

import io.lockstep.coordinator.op.CoordinatorContext;
import io.lockstep.coordinator.store.CheckpointStore;
import io.lockstep.coordinator.store.StoreCorruptionException;
import io.lockstep.manifest.ManifestCodec;
import io.lockstep.manifest.ManifestFormatException;
import io.lockstep.proto.Manifest;
import io.lockstep.proto.SnapshotDeletion;
import io.lockstep.coordinator.op.FailureReason;
import io.lockstep.coordinator.op.GroupLock;
import io.lockstep.coordinator.op.OperationFailedException;
import io.lockstep.coordinator.op.StaleOperations;
import io.lockstep.proto.CatalogEntry;
import io.lockstep.proto.CatalogManifest;
import io.lockstep.proto.OpRecord;
import io.lockstep.zk.Decision;
import io.lockstep.zk.Decisions;
import io.lockstep.zk.SnapshotDeletions;
import io.lockstep.zk.ZkJson;
import io.lockstep.zk.ZkLayout;
import org.apache.curator.framework.CuratorFramework;
import org.apache.curator.framework.api.transaction.CuratorOp;
import org.apache.zookeeper.KeeperException;
import org.apache.zookeeper.data.Stat;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Set;
import java.util.stream.Collectors;

/**
 * The committed checkpoints of each group: catalog entries in ZooKeeper
 * ({@code groups/<g>/checkpoints/<id>}, {@code groups/<g>/latest}) and their manifests in the store.
 * Deleting and retention take the group's operation lock, so they never race a checkpoint or a
 * restore that reads the checkpoint being removed.
 */
public final class Catalog {
    public static final String LATEST = "latest";

    private final CoordinatorContext ctx;
    private final CuratorFramework zk;
    private final ZkLayout layout;

    public Catalog(CoordinatorContext ctx) {
        this.ctx = ctx;
        this.zk = ctx.zk();
        this.layout = ctx.layout();
    }

    /** Committed checkpoints of the group, oldest first (by epoch). */
    public List<CatalogEntry> list(String group) throws Exception {
        List<CatalogEntry> entries = new ArrayList<>();
        for (String id : children(layout.checkpoints(group))) {
            get(group, id).ifPresent(entries::add);
        }
        entries.sort(Comparator.comparingLong(CatalogEntry::getEpoch).thenComparing(CatalogEntry::getCheckpointId));
        return entries;
    }

    public Optional<CatalogEntry> get(String group, String id) throws Exception {
        String path = layout.checkpoint(group, id);
        try {
            return Optional.of(ZkJson.parse(zk.getData().forPath(path), CatalogEntry.getDefaultInstance(), path));
        } catch (KeeperException.NoNodeException gone) {
            return Optional.empty();
        }
    }

    public Optional<String> latestId(String group) throws Exception {
        try {
            return Optional.of(new String(zk.getData().forPath(layout.latest(group)), StandardCharsets.UTF_8));
        } catch (KeeperException.NoNodeException none) {
            return Optional.empty();
        }
    }

    public Optional<CatalogEntry> latest(String group) throws Exception {
        Optional<String> id = latestId(group);
        return id.isPresent() ? get(group, id.get()) : Optional.empty();
    }

    /**
     * The checkpoint an operator means by {@code reference}: {@value #LATEST} or an id.
     *
     * @throws OperationFailedException CHECKPOINT_UNUSABLE, listing the ids that do exist
     */
    public CatalogEntry resolve(String group, String reference) throws Exception {
        ZkLayout.checkName("group", group);
        Optional<CatalogEntry> entry = LATEST.equals(reference) ? latest(group) : get(group, reference);
        if (entry.isPresent()) {
            return entry.get();
        }
        List<String> known = list(group).stream().map(CatalogEntry::getCheckpointId).toList();
        String what = LATEST.equals(reference) ? "group " + group + " has no committed checkpoint"
                : "checkpoint " + reference + " does not exist in group " + group;
        throw new OperationFailedException(FailureReason.CHECKPOINT_UNUSABLE, null,
                what + (known.isEmpty() ? " (it has no checkpoints)" : "; known: " + String.join(", ", known)));
    }

    /**
     * Finds a checkpoint by id in whichever group has it.
     *
     * @throws OperationFailedException CHECKPOINT_UNUSABLE when no group has it
     * @throws IllegalArgumentException when several groups have it: the operator must name the group
     */
    public CatalogEntry find(String id) throws Exception {
        ZkLayout.checkName("checkpoint", id);
        List<CatalogEntry> found = new ArrayList<>();
        for (String group : ctx.directory().groups()) {
            get(group, id).ifPresent(found::add);
        }
        if (found.isEmpty()) {
            throw new OperationFailedException(FailureReason.CHECKPOINT_UNUSABLE, null,
                    "checkpoint " + id + " does not exist in any group");
        }
        if (found.size() > 1) {
            throw new IllegalArgumentException("checkpoint id " + id + " exists in groups "
                    + found.stream().map(CatalogEntry::getGroup).collect(Collectors.joining(", "))
                    + ": name one with --group");
        }
        return found.get(0);
    }

    /** Reads every host's manifest, checked against the catalog, in the catalog's host order. */
    public Map<String, Manifest> manifests(CatalogEntry entry) throws IOException {
        CheckpointStore store = ctx.store();
        Map<String, Manifest> manifests = new LinkedHashMap<>();
        for (CatalogManifest stored : entry.getManifestsList()) {
            byte[] bytes = store.readVerified(entry.getGroup(), entry.getCheckpointId(), stored.getHostId(),
                    stored.getSha256(), stored.getSize());
            try {
                manifests.put(stored.getHostId(), ManifestCodec.decode(ctx.unsealFromStore(bytes)));
            } catch (ManifestFormatException e) {
                throw new StoreCorruptionException("manifest of host " + stored.getHostId() + " for checkpoint "
                        + entry.getCheckpointId() + " ("
                        + store.manifestUri(entry.getGroup(), entry.getCheckpointId(), stored.getHostId())
                        + ") is unreadable: " + e.getMessage());
            }
        }
        return manifests;
    }

    /** A deleted checkpoint, and what became of its snapshots. */
    public record Deleted(CatalogEntry entry, CheckpointSnapshots.Outcome snapshots) {
    }

    /**
     * Deletes one checkpoint: one ZooKeeper transaction removes its entry, moves {@code latest}
     * to the newest remaining one (or removes it) and records its snapshots for deletion; then its
     * manifests leave the store and the agents that took the snapshots delete them (and every
     * deletion still pending in the group).
     */
    public Deleted delete(String group, String id) throws Exception {
        try (GroupLock lock = GroupLock.acquire(zk, layout, group, ctx.lockHolder("delete-" + id))) {
            CatalogEntry entry = resolve(group, id);
            CheckpointSnapshots snapshots = new CheckpointSnapshots(ctx);
            List<String> unknown = new ArrayList<>();
            removeEntry(group, entry, snapshots.recordedIn(entry, unknown));
            ctx.store().delete(group, entry.getCheckpointId());
            return new Deleted(entry, snapshots.deletePending(group).withUnknown(unknown));
        }
    }

    /**
     * What {@link #retain} removed, and the checkpoints it left because their manifests are not in
     * the store (each with why): an operator's matter, never a reason to delete. {@code snapshots}: the
     * snapshots deleted with them (and pending from earlier deletions), and the ones left where they are.
     */
    public record Retention(List<String> deletedCheckpoints, List<String> removedLeftovers, List<String> removedOpRecords,
                            List<String> unreadable, CheckpointSnapshots.Outcome snapshots) {
    }

    /**
     * Keeps the newest {@code keep} checkpoints whose manifests are all in the store (and always the
     * one {@code latest} points to), and removes aborted leftovers from the store and the op
     * records of what it deleted. A checkpoint whose manifests cannot be found is kept and
     * reported: a coordinator looking at the wrong store, or a store that is down, must not
     * empty the catalog, nor count such checkpoints as the ones kept.
     */
    public Retention retain(String group, int keep) throws Exception {
        if (keep < 0) {
            throw new IllegalArgumentException("--keep must be 0 or more, got " + keep);
        }
        try (GroupLock lock = GroupLock.acquire(zk, layout, group, ctx.lockHolder("retain"))) {
            // Ops whose coordinator died before deciding can never commit: decide them ABORT first,
            // so that their manifests count as aborted leftovers below.
            new StaleOperations(zk, layout).abortOrphans(group);
            List<CatalogEntry> entries = new ArrayList<>();
            List<String> unreadable = new ArrayList<>();
            for (CatalogEntry entry : list(group)) {
                Optional<String> problem = missingManifest(entry);
                if (problem.isPresent()) {
                    unreadable.add(entry.getCheckpointId() + ": " + problem.get());
                } else {
                    entries.add(entry);
                }
            }
            Optional<String> latest = latestId(group);
            List<CatalogEntry> doomed = entries.subList(0, Math.max(0, entries.size() - keep)).stream()
                    .filter(entry -> latest.map(id -> !id.equals(entry.getCheckpointId())).orElse(true))
                    .toList();
            List<String> deleted = new ArrayList<>();
            List<String> opRecords = new ArrayList<>();
            CheckpointSnapshots snapshots = new CheckpointSnapshots(ctx);
            List<String> unknown = new ArrayList<>();
            for (CatalogEntry entry : doomed) {
                removeEntry(group, entry, snapshots.recordedIn(entry, unknown));
                ctx.store().delete(group, entry.getCheckpointId());
                deleted.add(entry.getCheckpointId());
                if (removeDecidedOp(group, entry.getOpId())) {
                    opRecords.add(entry.getOpId());
                }
            }
            List<String> leftovers = removeLeftovers(group);
            // With no checkpoint left there is no later commit to prove an ABORT is old: keep them all.
            long oldestKept = list(group).stream().mapToLong(CatalogEntry::getEpoch).min().orElse(Long.MIN_VALUE);
            opRecords.addAll(removeOldAbortedOps(group, oldestKept));
            return new Retention(deleted, leftovers, opRecords, unreadable,
                    snapshots.deletePending(group).withUnknown(unknown));
        }
    }

    /** Why one of the entry's manifests is not in the store (missing, another size, or unreachable), if so. */
    private Optional<String> missingManifest(CatalogEntry entry) {
        for (CatalogManifest manifest : entry.getManifestsList()) {
            String where = ctx.store().manifestUri(entry.getGroup(), entry.getCheckpointId(), manifest.getHostId());
            try {
                if (!ctx.store().exists(entry.getGroup(), entry.getCheckpointId(), manifest.getHostId(), manifest.getSize())) {
                    return Optional.of("manifest of host " + manifest.getHostId() + " is not in the store as recorded ("
                            + manifest.getSize() + " bytes at " + where + ")");
                }
            } catch (IOException e) {
                return Optional.of("manifest of host " + manifest.getHostId() + " cannot be looked at (" + where + "): "
                        + e.getMessage());
            }
        }
        return Optional.empty();
    }

    /** Removes the catalog entry and records its snapshots for deletion, in one transaction. */
    private void removeEntry(String group, CatalogEntry entry, List<SnapshotDeletion> snapshots) throws Exception {
        String id = entry.getCheckpointId();
        Stat entryStat = zk.checkExists().forPath(layout.checkpoint(group, id));
        if (entryStat == null) {
            return;
        }
        List<CuratorOp> ops = new ArrayList<>();
        ops.add(zk.transactionOp().delete().withVersion(entryStat.getVersion()).forPath(layout.checkpoint(group, id)));
        if (!snapshots.isEmpty()) {
            SnapshotDeletions deletions = new SnapshotDeletions(zk, layout);
            deletions.ensureParent(group);
            ops.addAll(deletions.recordOps(group, id, snapshots));
        }
        Stat latestStat = new Stat();
        Optional<String> latest = readLatest(group, latestStat);
        if (latest.isPresent() && latest.get().equals(id)) {
            Optional<CatalogEntry> previous = list(group).stream()
                    .filter(other -> !other.getCheckpointId().equals(id))
                    .reduce((older, newer) -> newer);
            String latestPath = layout.latest(group);
            ops.add(previous.isPresent()
                    ? zk.transactionOp().setData().withVersion(latestStat.getVersion())
                            .forPath(latestPath, previous.get().getCheckpointId().getBytes(StandardCharsets.UTF_8))
                    : zk.transactionOp().delete().withVersion(latestStat.getVersion()).forPath(latestPath));
        }
        zk.transaction().forOperations(ops);
    }

    private Optional<String> readLatest(String group, Stat stat) throws Exception {
        try {
            return Optional.of(new String(zk.getData().storingStatIn(stat).forPath(layout.latest(group)),
                    StandardCharsets.UTF_8));
        } catch (KeeperException.NoNodeException none) {
            return Optional.empty();
        }
    }

    /**
     * Store directories with no catalog entry whose operation this ZooKeeper recorded and is over:
     * aborted (or lost) leftovers. A directory of an operation this ZooKeeper never recorded is
     * another deployment's (a second or a reset ZooKeeper on the same store: ids are unique beyond
     * one ZooKeeper, `OpIds`) and stays: it may be that ZooKeeper's committed checkpoint.
     */
    private List<String> removeLeftovers(String group) throws Exception {
        Set<String> cataloged = new HashSet<>(children(layout.checkpoints(group)));
        List<String> removed = new ArrayList<>();
        for (String name : ctx.store().checkpointIds(group)) {
            if (cataloged.contains(name) || !isValidName(name) || zk.checkExists().forPath(layout.op(group, name)) == null
                    || inProgress(group, name)) {
                continue;
            }
            ctx.store().delete(group, name);
            removed.add(name);
        }
        return removed;
    }

    /** Still owned and undecided: its coordinator may yet write manifests here and commit. */
    private boolean inProgress(String group, String op) throws Exception {
        return zk.checkExists().forPath(layout.owner(group, op)) != null
                && zk.checkExists().forPath(layout.decision(group, op)) == null;
    }

    /**
     * ABORT records older than every kept checkpoint: a later operation committed with every
     * participant frozen for it, so no agent still waits on these decisions.
     */
    private List<String> removeOldAbortedOps(String group, long oldestKeptEpoch) throws Exception {
        Decisions decisions = new Decisions(zk, layout);
        List<String> removed = new ArrayList<>();
        for (String op : children(layout.ops(group))) {
            String path = layout.op(group, op);
            Stat stat = zk.checkExists().forPath(path);
            Optional<Decision> decision = decisions.read(group, op);
            if (stat == null || decision.isEmpty() || decision.get().isCommit()) {
                continue;
            }
            long epoch = ZkJson.parse(zk.getData().forPath(path), OpRecord.getDefaultInstance(), path)
                    .getEpoch();
            if (epoch < oldestKeptEpoch) {
                zk.delete().deletingChildrenIfNeeded().forPath(path);
                removed.add(op);
            }
        }
        return removed;
    }

    private boolean removeDecidedOp(String group, String op) throws Exception {
        if (op.isEmpty() || new Decisions(zk, layout).read(group, op).isEmpty()) {
            return false;
        }
        try {
            zk.delete().deletingChildrenIfNeeded().forPath(layout.op(group, op));
            return true;
        } catch (KeeperException.NoNodeException gone) {
            return false;
        }
    }

    private static boolean isValidName(String name) {
        try {
            ZkLayout.checkName("checkpoint", name);
            return true;
        } catch (IllegalArgumentException notOurs) {
            return false;
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
