package io.lockstep.agent.server;

import io.grpc.Status;
import io.lockstep.agent.capture.CaptureStats;
import io.lockstep.agent.capture.PortableIdentities;
import io.lockstep.agent.proc.MountTable;
import io.lockstep.agent.snapshot.CommandEngine;
import io.lockstep.agent.snapshot.DataPath;
import io.lockstep.agent.snapshot.GroupSnapshots;
import io.lockstep.agent.snapshot.SnapshotEngines;
import io.lockstep.agent.snapshot.SnapshotException;
import io.lockstep.manifest.ManifestCodec;
import io.lockstep.manifest.ManifestFormatException;
import io.lockstep.proto.DataPathRecord;
import io.lockstep.proto.FileIdentity;
import io.lockstep.proto.IdentityKind;
import io.lockstep.proto.Manifest;
import io.lockstep.proto.OpContext;
import io.lockstep.proto.SnapshotRecord;
import io.lockstep.zk.DataPaths;
import io.lockstep.zk.Decision;
import io.lockstep.zk.Decisions;
import io.lockstep.zk.ZkLayout;
import io.lockstep.proto.SnapshotDeletion;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.time.Duration;
import java.util.Collections;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import org.apache.curator.framework.CuratorFramework;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The snapshots of a checkpoint on this host (issue 15): taken during capture, inside the frozen window, and
 * recorded in the manifest; deleted again once the op's decision is ABORT, kept once it is COMMIT.
 */
final class CaptureSnapshots {
    private static final Logger LOG = LoggerFactory.getLogger(CaptureSnapshots.class);
    /** What the copy engine may copy inside one window unless a data path declares its own bound. */
    static final long DEFAULT_COPY_MAX_BYTES = 1L << 30;
    static final Duration COMMAND_TIMEOUT = Duration.ofSeconds(60);

    private final AgentConfig config;
    private final CuratorFramework zk;
    private final ZkLayout layout;
    private final GroupSnapshots snapshots;
    private final Set<String> networkFsTypes;
    /** Snapshots taken for an op whose decision this host has not yet seen, by op id. */
    private final Map<String, List<SnapshotRecord>> undecided = new ConcurrentHashMap<>();
    /**
     * Per op whose snapshots were made durable, its manifest with the completed snapshot records (the Capture call
     * may come more than once).
     */
    private final Map<String, CheckpointParticipant.Captured> completed = new ConcurrentHashMap<>();
    /**
     * {@code <state dir>/snapshots/pending/<group>/<op>}: the snapshots of an op whose decision this agent has not
     * acted on, written inside the window, removed once it has. What an agent that died (or never read the
     * decision) left here is settled by the next agent: an aborted checkpoint leaves no snapshot behind.
     */
    private final Path pendingDir;
    /** Per op, the declared data paths read before its freeze ({@link #prepare}), until its capture or thaw. */
    private final Map<String, List<DataPathRecord>> declaredByOp = new ConcurrentHashMap<>();

    CaptureSnapshots(AgentConfig config, CuratorFramework zk, ZkLayout layout) {
        this.config = config;
        this.zk = zk;
        this.layout = layout;
        this.snapshots = groupSnapshots(config);
        this.pendingDir = config.stateDir().resolve("snapshots").resolve("pending");
        Set<String> types = new HashSet<>(Set.of("nfs", "nfs4"));
        types.addAll(config.networkFsTypes());
        this.networkFsTypes = Collections.unmodifiableSet(types);
    }

    /** The engines of this agent: the copy engine's store is {@code <state dir>/snapshots}. */
    static GroupSnapshots groupSnapshots(AgentConfig config) {
        return new GroupSnapshots(new SnapshotEngines(config.stateDir().resolve("snapshots"), DEFAULT_COPY_MAX_BYTES,
                COMMAND_TIMEOUT));
    }

    /**
     * Takes the snapshots this host owes for the op and adds them to the manifest. A failure deletes the
     * ones taken and aborts the capture (the coordinator then aborts the checkpoint, which thaws).
     */
    Manifest take(OpContext op, Manifest manifest, List<String> participants) throws Exception {
        List<DataPathRecord> declared = declaredByOp.remove(op.getOpId());
        if (declared == null) {
            declared = new DataPaths(zk, layout).list(op.getGroup());
        }
        // The op's participants are every member when it opened: no ZooKeeper read inside the window.
        boolean lowestNamedMember = participants.stream().sorted().findFirst().map(config.hostId()::equals).orElse(true);
        List<DataPath> owed = new java.util.ArrayList<>(
                GroupSnapshots.declaredOwed(lowestNamedMember, declared, networkFsTypes));
        List<String> warnings = new java.util.ArrayList<>();
        try {
            List<DataPath> held = GroupSnapshots.heldOnNetwork(declared, manifest, warnings);
            owed.addAll(snapshots.withoutCopying(held, warnings));
        } catch (SnapshotException e) {
            throw Status.ABORTED.withDescription("snapshot on host " + config.hostId() + " for checkpoint "
                    + op.getOpId() + " of group " + op.getGroup() + " failed: " + e.getMessage()).asRuntimeException();
        }
        if (owed.isEmpty()) {
            return warnings.isEmpty() ? manifest : manifest.toBuilder().addAllWarnings(warnings).build();
        }
        List<SnapshotRecord> taken;
        try {
            taken = snapshots.takeAll(op.getOpId(), owed);
        } catch (SnapshotException e) {
            throw Status.ABORTED.withDescription("snapshot on host " + config.hostId() + " for checkpoint "
                    + op.getOpId() + " of group " + op.getGroup() + " failed: " + e.getMessage()).asRuntimeException();
        }
        taken = withNetworkIdentities(taken);
        undecided.put(op.getOpId(), taken);
        recordPending(op, taken);
        long costMicros = taken.stream().mapToLong(SnapshotRecord::getCostNanos).sum() / 1000;
        LOG.info("group {} op {} host {}: {} snapshots inside the window ({} µs): {}", op.getGroup(), op.getOpId(),
                config.hostId(), taken.size(), costMicros,
                taken.stream().map(t -> t.getEngine() + " " + t.getDataPath()).toList());
        return manifest.toBuilder().addAllSnapshots(taken).addAllWarnings(warnings).build();
    }

    /**
     * Adds, to each snapshot on a network file system, the identities (export + path in it) of its data path
     * and location, by which a restore onto another host finds them through that host's own mount. The mount
     * table is read once; the server's name was resolved (and cached) for the held files' identities already.
     */
    private List<SnapshotRecord> withNetworkIdentities(List<SnapshotRecord> taken) {
        PortableIdentities identities;
        try {
            identities = new PortableIdentities(MountTable.read("self").withNetworkTypes(config.networkFsTypes()),
                    config.hostId(), config.serverNames());
        } catch (IOException e) {
            LOG.warn("host {}: snapshots recorded without network identities (mount table unreadable: {}); a restore"
                    + " onto another host will not roll them back", config.hostId(), e.getMessage());
            return taken;
        }
        List<SnapshotRecord> identified = new java.util.ArrayList<>();
        for (SnapshotRecord record : taken) {
            SnapshotRecord.Builder builder = record.toBuilder();
            networkIdentity(identities, record.getDataPath()).ifPresent(builder::setDataPathIdentity);
            if (!record.getEngine().equals(CommandEngine.NAME)) {
                networkIdentity(identities, record.getLocation()).ifPresent(builder::setLocationIdentity);
            }
            identified.add(builder.build());
        }
        return identified;
    }

    private static Optional<FileIdentity> networkIdentity(PortableIdentities identities, String path) {
        try {
            FileIdentity identity = identities.identify(path, -1);
            return identity.getKind() == IdentityKind.NETWORK ? Optional.of(identity) : Optional.empty();
        } catch (IllegalArgumentException noMount) {
            return Optional.empty();
        }
    }

    /**
     * Before the freeze: reads the group's declared data paths for the op's capture, so that the
     * frozen window holds no ZooKeeper read for them (a path declared after this is the next
     * checkpoint's, as one declared during the capture would be).
     */
    void prepare(OpContext op) throws Exception {
        declare(op, new DataPaths(zk, layout).list(op.getGroup()));
    }

    /** The op's declared data paths, as {@link #prepare} reads them; the start-up warm-up's scratch op declares none. */
    void declare(OpContext op, List<DataPathRecord> declared) {
        declaredByOp.put(op.getOpId(), declared);
    }

    /**
     * Written in the window, not made durable: it guards against an agent that dies, and a host that crashes loses
     * with it only snapshots that were not durable either (no commit can have counted on them).
     */
    private void recordPending(OpContext op, List<SnapshotRecord> taken) {
        Path file = pendingDir.resolve(op.getGroup()).resolve(op.getOpId());
        try {
            Files.createDirectories(file.getParent());
            Path incoming = file.resolveSibling(op.getOpId() + ".incoming");
            Files.write(incoming, SnapshotDeletion.newBuilder().setCheckpointId(op.getOpId())
                    .setHostId(config.hostId()).addAllSnapshots(taken.stream().map(r -> r.toBuilder().clearFiles().build())
                            .toList()).build().toByteArray());
            Files.move(incoming, file, StandardCopyOption.ATOMIC_MOVE);
        } catch (IOException e) {
            LOG.warn("group {} op {} host {}: its snapshots are not recorded at {} ({}); if this agent stops before"
                    + " the decision they stay: {}", op.getGroup(), op.getOpId(), config.hostId(), file, e.toString(),
                    locations(taken));
        }
    }

    private void forgetPending(String group, String opId) {
        try {
            Files.deleteIfExists(pendingDir.resolve(group).resolve(opId));
        } catch (IOException e) {
            LOG.warn("group {} op {} host {}: cannot remove its pending snapshot record: {}", group, opId,
                    config.hostId(), e.toString());
        }
    }

    /**
     * After the thaw, before the manifest goes to the coordinator (so before any commit): the op's snapshots reach
     * the disk (the copy engine's pack and index, the clones' names), and what their engines completed after the
     * window (the copy engine's sha256 per file) goes into their records: the captured manifest is re-encoded with
     * them, its sha256 with it. A failure aborts the checkpoint. Once per op: a repeated call gets the same manifest.
     */
    CheckpointParticipant.Captured makeDurable(OpContext op, CheckpointParticipant.Captured captured) {
        List<SnapshotRecord> taken = undecided.get(op.getOpId());
        if (taken == null) {
            return captured;
        }
        synchronized (taken) {
            CheckpointParticipant.Captured done = completed.get(op.getOpId());
            if (done != null) {
                return done;
            }
            List<SnapshotRecord> durable;
            try {
                durable = snapshots.makeDurableAll(op.getOpId(), taken);
            } catch (SnapshotException e) {
                throw Status.ABORTED.withDescription("snapshot on host " + config.hostId() + " for checkpoint "
                        + op.getOpId() + " of group " + op.getGroup() + " could not be made durable: " + e.getMessage())
                        .asRuntimeException();
            }
            Manifest manifest;
            try {
                manifest = ManifestCodec.decode(captured.framed());
            } catch (ManifestFormatException e) {
                throw Status.INTERNAL.withDescription("host " + config.hostId() + ": the manifest it captured for op "
                        + op.getOpId() + " of group " + op.getGroup() + " does not decode: " + e.getMessage())
                        .asRuntimeException();
            }
            // The manifest's snapshot records are the ones taken, in order (take added them, nothing else does).
            Manifest withDigests = manifest.toBuilder().clearSnapshots().addAllSnapshots(durable).build();
            byte[] framed = ManifestCodec.encode(withDigests);
            done = new CheckpointParticipant.Captured(framed, ManifestCodec.sha256Hex(framed),
                    CaptureStats.of(withDigests), captured.thawedAtUnixMicros());
            completed.put(op.getOpId(), done);
            return done;
        }
    }

    /** The capture failed after the snapshots: delete them now. */
    void discard(OpContext op) {
        declaredByOp.remove(op.getOpId());
        List<SnapshotRecord> taken = undecided.remove(op.getOpId());
        completed.remove(op.getOpId());
        if (taken != null && delete(op.getGroup(), op.getOpId(), taken, "the capture failed")) {
            forgetPending(op.getGroup(), op.getOpId());
        }
    }

    /**
     * Settles what an earlier agent process (or this one, when it could not read a decision) left pending: ABORT, or
     * an op that is gone with neither decision nor catalog entry (only retention removes op records), deletes the
     * snapshots; COMMIT, or a checkpoint in the catalog, keeps them; an op still undecided waits for its decision.
     */
    void settleLeftPending() {
        if (!Files.isDirectory(pendingDir)) {
            return;
        }
        try (var groupDirs = Files.list(pendingDir)) {
            for (Path groupDir : (Iterable<Path>) groupDirs::iterator) {
                String group = groupDir.getFileName().toString();
                try (var files = Files.list(groupDir)) {
                    for (Path file : (Iterable<Path>) files::iterator) {
                        String opId = file.getFileName().toString();
                        if (!opId.endsWith(".incoming")) {
                            settleLeft(group, opId, file);
                        }
                    }
                }
            }
        } catch (IOException e) {
            LOG.warn("host {}: pending snapshot records in {} unreadable: {}", config.hostId(), pendingDir, e.toString());
        }
    }

    private void settleLeft(String group, String opId, Path file) {
        try {
            List<SnapshotRecord> taken = SnapshotDeletion.parseFrom(Files.readAllBytes(file)).getSnapshotsList();
            Optional<Decision> decision = new Decisions(zk, layout).read(group, opId);
            boolean aborted;
            String why;
            if (decision.isPresent()) {
                aborted = !decision.get().isCommit();
                why = aborted ? "the checkpoint was aborted (" + decision.get().reason() + ")" : "";
            } else if (zk.checkExists().forPath(layout.checkpoint(group, opId)) != null) {
                aborted = false;
                why = "";
            } else if (zk.checkExists().forPath(layout.op(group, opId)) == null) {
                aborted = true;
                why = "its op ended with neither a decision nor a catalog entry (it aborted)";
            } else {
                LOG.info("group {} op {} host {}: still undecided; its snapshots wait for the decision: {}", group, opId,
                        config.hostId(), locations(taken));
                return;
            }
            if (!aborted || delete(group, opId, taken, why + ", settled later")) {
                Files.deleteIfExists(file);
                undecided.remove(opId);
                completed.remove(opId);
            }
        } catch (Exception e) {
            LOG.warn("group {} op {} host {}: pending snapshots not settled ({}); the next start or checkpoint retries",
                    group, opId, config.hostId(), e.toString());
        }
    }

    /** After the thaw: ABORT deletes the op's snapshots, COMMIT keeps them (retention deletes them later). */
    void settle(OpContext op) {
        declaredByOp.remove(op.getOpId());
        List<SnapshotRecord> taken = undecided.get(op.getOpId());
        if (taken == null) {
            return;
        }
        Optional<Decision> decision;
        try {
            decision = new Decisions(zk, layout).read(op.getGroup(), op.getOpId());
        } catch (Exception e) {
            LOG.warn("group {} op {} host {}: decision unreadable ({}); its snapshots stay until it is known: {}",
                    op.getGroup(), op.getOpId(), config.hostId(), e.toString(), locations(taken));
            return;
        }
        if (decision.isEmpty()) {
            LOG.warn("group {} op {} host {}: thawed without a decision; its snapshots stay until one exists: {}",
                    op.getGroup(), op.getOpId(), config.hostId(), locations(taken));
            return;
        }
        undecided.remove(op.getOpId());
        completed.remove(op.getOpId());
        if (decision.get().isCommit() || delete(op.getGroup(), op.getOpId(), taken,
                "the checkpoint was aborted (" + decision.get().reason() + ")")) {
            forgetPending(op.getGroup(), op.getOpId());
        }
        // Whatever an earlier agent process left, or a decision that was unreadable before: settled now.
        settleLeftPending();
    }

    /** Whether the snapshots are gone; a failure is logged, and their pending record stays for a retry. */
    private boolean delete(String group, String opId, List<SnapshotRecord> taken, String why) {
        try {
            snapshots.deleteAll(opId, taken);
            LOG.info("group {} op {} host {}: deleted its snapshots, {}: {}", group, opId, config.hostId(), why,
                    locations(taken));
            return true;
        } catch (SnapshotException e) {
            LOG.error("group {} op {} host {}: {}, but deleting its snapshots failed: {}", group, opId,
                    config.hostId(), why, e.getMessage());
            return false;
        }
    }

    private static List<String> locations(List<SnapshotRecord> taken) {
        return taken.stream().map(SnapshotRecord::getLocation).toList();
    }
}
