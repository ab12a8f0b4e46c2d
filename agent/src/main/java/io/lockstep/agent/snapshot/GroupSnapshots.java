package io.lockstep.agent.snapshot;

import io.lockstep.names.RawNames;
import io.lockstep.proto.DataPathRecord;
import io.lockstep.proto.FdKind;
import io.lockstep.proto.FdRecord;
import io.lockstep.proto.IdentityKind;
import io.lockstep.proto.Manifest;
import io.lockstep.proto.ProcessRecord;
import io.lockstep.proto.SnapshotFileRecord;
import io.lockstep.proto.SnapshotRecord;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.InvalidPathException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Set;

/**
 * A group's snapshots on this host for one checkpoint: which data paths it owes, taking them all or none
 * inside the frozen window, and deleting or rolling them back later from what the manifest recorded.
 */
public final class GroupSnapshots {
    private final SnapshotEngines engines;

    public GroupSnapshots(SnapshotEngines engines) {
        this.engines = engines;
    }

    /**
     * The declared data paths this host snapshots: the ones it sees, one on a network file system only when
     * this host is the group's lowest-named member, so that a shared export is taken once.
     */
    public static List<DataPath> declaredOwed(boolean lowestNamedMember, List<DataPathRecord> declared,
                                              Set<String> networkFsTypes) throws IOException {
        List<DataPath> owed = new ArrayList<>();
        for (DataPathRecord record : declared) {
            Path path = Path.of(record.getPath());
            if (!Files.exists(path)) {
                continue;
            }
            boolean network = networkFsTypes.contains(Files.getFileStore(path).type());
            if (network && !lowestNamedMember) {
                continue;
            }
            DataPath dataPath;
            if (record.getEngine().equals(CommandEngine.NAME)) {
                dataPath = DataPath.withCommands(path, new SnapshotCommands(record.getSnapshotCommand(),
                        record.getRollbackCommand(), record.getDeleteCommand()));
            } else if (record.getEngine().isEmpty()) {
                dataPath = DataPath.of(path);
            } else {
                dataPath = DataPath.of(path, record.getEngine());
            }
            owed.add(record.getCopyMaxBytes() > 0 ? dataPath.withCopyMaxBytes(record.getCopyMaxBytes()) : dataPath);
        }
        return owed;
    }

    /**
     * Every regular file the manifest's processes hold open on a network file system outside the declared
     * paths: snapshotted by default where that costs no copy (see {@link #withoutCopying}).
     */
    public static List<DataPath> heldOnNetwork(List<DataPathRecord> declared, Manifest manifest,
                                               List<String> warnings) {
        List<DataPath> owed = new ArrayList<>();
        List<Path> declaredPaths = declared.stream().map(r -> Path.of(r.getPath())).toList();
        Map<Path, FdRecord> held = new java.util.TreeMap<>();
        for (ProcessRecord process : manifest.getProcessesList()) {
            for (FdRecord fd : process.getFdsList()) {
                if (fd.getKind() == FdKind.FD_REGULAR && !fd.getAgentOutput() && fd.hasIdentity()
                        && fd.getIdentity().getKind() == IdentityKind.NETWORK) {
                    Path file;
                    try {
                        file = Path.of(fd.getPath());
                    } catch (InvalidPathException e) {
                        // A name that is not valid in the JVM's charset (names are bytes): the Path-based
                        // engines cannot reach it, so it is named in a warning, as an uncloneable file is.
                        warnings.add("not snapshotted: " + RawNames.display(fd.getPath()) + " is held open on a"
                                + " network file system, and its name is not valid in this agent's charset");
                        continue;
                    }
                    if (declaredPaths.stream().noneMatch(file::startsWith)) {
                        held.putIfAbsent(file, fd);
                    }
                }
            }
        }
        held.forEach((file, fd) -> owed.add(DataPath.held(fd.getIdentity().getSource(),
                fd.getIdentity().getRelativePath(), file)));
        return owed;
    }

    /**
     * The held files whose best engine shares blocks (reflink, btrfs); the others are left out with a warning
     * each, as copying undeclared files would make the window grow with the data. Declaring a data path
     * (engine copy) opts in.
     */
    public List<DataPath> withoutCopying(List<DataPath> held, List<String> warnings) throws SnapshotException {
        List<DataPath> kept = new ArrayList<>();
        for (DataPath file : held) {
            if (engines.forPath(file).name().equals(CopyEngine.NAME)) {
                warnings.add("not snapshotted: " + file.path() + " is held open on a network file system that cannot"
                        + " clone; declare it (coordinator data-path add) to have it copied inside the window");
            } else {
                kept.add(file);
            }
        }
        return kept;
    }

    /** Takes every snapshot, or none: after a failure the ones taken are deleted and the failure thrown. */
    public List<SnapshotRecord> takeAll(String checkpointId, List<DataPath> dataPaths) throws SnapshotException {
        List<Snapshot> taken = new ArrayList<>();
        try {
            for (DataPath dataPath : dataPaths) {
                taken.add(engines.forPath(dataPath).take(checkpointId, dataPath));
            }
        } catch (SnapshotException e) {
            for (Snapshot snapshot : taken) {
                try {
                    engines.named(snapshot.engine()).delete(snapshot);
                } catch (SnapshotException cleanUp) {
                    e.addSuppressed(cleanUp);
                }
            }
            throw e;
        }
        return taken.stream().map(GroupSnapshots::toRecord).toList();
    }

    /**
     * Makes every snapshot this host took durable (after the thaw, before the commit); the first failure is thrown.
     * Returns the records completed with what the engines computed after the window (the copy engine's sha256 per
     * file), each otherwise as it was.
     */
    public List<SnapshotRecord> makeDurableAll(String checkpointId, List<SnapshotRecord> records)
            throws SnapshotException {
        List<SnapshotRecord> durable = new ArrayList<>();
        for (SnapshotRecord record : records) {
            if (record.getTakenByAnotherHost()) {
                durable.add(record);
                continue;
            }
            Snapshot snapshot = engines.named(record.getEngine()).makeDurable(fromRecord(checkpointId, record));
            SnapshotRecord.Builder completed = record.toBuilder().clearFiles();
            for (SnapshotFile file : snapshot.files()) {
                completed.addFiles(fileRecord(file));
            }
            durable.add(completed.build());
        }
        return durable;
    }

    /** Deletes every snapshot recorded; tries them all and throws the first failure with the others suppressed. */
    public void deleteAll(String checkpointId, List<SnapshotRecord> records) throws SnapshotException {
        SnapshotException failure = null;
        for (SnapshotRecord record : records) {
            if (record.getTakenByAnotherHost()) {
                continue;
            }
            try {
                engines.named(record.getEngine()).delete(fromRecord(checkpointId, record));
            } catch (SnapshotException e) {
                if (failure == null) {
                    failure = e;
                } else {
                    failure.addSuppressed(e);
                }
            }
        }
        if (failure != null) {
            throw failure;
        }
    }

    /**
     * Deletes the snapshots a deletion record names (retention): only ones whose location is this checkpoint's
     * snapshot directory, subvolume or store index, so that a record can never point the agent at other files.
     * Returns their locations.
     */
    public List<String> deleteRecorded(String checkpointId, List<SnapshotRecord> records) throws SnapshotException {
        for (SnapshotRecord record : records) {
            checkLocation(checkpointId, record);
        }
        deleteAll(checkpointId, records);
        return records.stream().map(SnapshotRecord::getLocation).toList();
    }

    /** A reflink, btrfs or copy snapshot of checkpoint {@code id} lives in {@code .lockstep-snapshots/<id>[-key]} or {@code index/<id>-<key>}. */
    static void checkLocation(String checkpointId, SnapshotRecord record) throws SnapshotRefusedException {
        if (record.getEngine().equals(CommandEngine.NAME)) {
            // Its location names the command that took it; deleting runs the operator's declared delete command.
            return;
        }
        Path location;
        try {
            location = Path.of(record.getLocation()).normalize();
        } catch (InvalidPathException e) {
            location = Path.of("");
        }
        for (int i = 1; location.isAbsolute() && i < location.getNameCount(); i++) {
            String container = location.getName(i - 1).toString();
            String name = location.getName(i).toString();
            if ((container.equals(DataFiles.SNAPSHOT_DIR) || container.equals(CopyEngine.INDEX_DIR))
                    && (name.equals(checkpointId) || name.startsWith(checkpointId + "-"))) {
                return;
            }
        }
        throw new SnapshotRefusedException("refusing to delete " + record.getEngine() + " snapshot location '"
                + record.getLocation() + "' of data path " + record.getDataPath() + ": it is not a snapshot of checkpoint "
                + checkpointId + " (" + DataFiles.SNAPSHOT_DIR + "/" + checkpointId + "… or " + CopyEngine.INDEX_DIR + "/"
                + checkpointId + "-…)");
    }

    /** Rolls back every recorded snapshot in order; the first failure stops it, naming what was rolled back. */
    public List<RollBackReport> rollBackAll(String checkpointId, List<SnapshotRecord> records) throws SnapshotException {
        List<RollBackReport> reports = new ArrayList<>();
        for (SnapshotRecord record : records) {
            try {
                reports.add(engines.named(record.getEngine()).rollBack(fromRecord(checkpointId, record)));
            } catch (SnapshotException e) {
                String done = reports.isEmpty() ? "" : " (already rolled back: "
                        + String.join(", ", reports.stream().map(r -> r.dataPath().toString()).toList()) + ")";
                throw e instanceof RollBackException ? new RollBackException(e.getMessage() + done, e)
                        : new SnapshotException(e.getMessage() + done, e);
            }
        }
        return reports;
    }

    public static SnapshotRecord toRecord(Snapshot snapshot) {
        SnapshotRecord.Builder record = SnapshotRecord.newBuilder().setEngine(snapshot.engine())
                .setDataPath(snapshot.dataPath().toString()).setDirectory(snapshot.directory())
                .setLocation(snapshot.location()).setBytes(snapshot.bytes()).setCopiedBytes(snapshot.copiedBytes())
                .setCostNanos(snapshot.costNanos()).setTakenByAnotherHost(snapshot.takenByAnotherHost());
        for (SnapshotFile file : snapshot.files()) {
            record.addFiles(fileRecord(file));
        }
        snapshot.commands().ifPresent(c -> record.setSnapshotCommand(c.snapshot()).setRollbackCommand(c.rollBack())
                .setDeleteCommand(c.delete()));
        return record.build();
    }

    private static SnapshotFileRecord fileRecord(SnapshotFile file) {
        return SnapshotFileRecord.newBuilder().setRelativePath(file.relativePath()).setSize(file.size())
                .setMode(file.mode()).setSha256(file.sha256().orElse("")).build();
    }

    public static Snapshot fromRecord(String checkpointId, SnapshotRecord record) {
        List<SnapshotFile> files = new ArrayList<>();
        for (SnapshotFileRecord file : record.getFilesList()) {
            files.add(new SnapshotFile(file.getRelativePath(), file.getSize(), file.getMode(),
                    file.getSha256().isEmpty() ? Optional.empty() : Optional.of(file.getSha256())));
        }
        Optional<SnapshotCommands> commands = record.getRollbackCommand().isEmpty() ? Optional.empty()
                : Optional.of(new SnapshotCommands(record.getSnapshotCommand(), record.getRollbackCommand(),
                        record.getDeleteCommand()));
        return new Snapshot(checkpointId, record.getEngine(), Path.of(record.getDataPath()), record.getDirectory(),
                record.getLocation(), files, record.getBytes(), record.getCopiedBytes(), record.getCostNanos(), commands,
                record.getTakenByAnotherHost());
    }

    /** The sha256 of every file the roll-backs put back, by absolute path (for the restore's report). */
    public static Map<String, String> digests(List<RollBackReport> reports) {
        Map<String, String> digests = new LinkedHashMap<>();
        for (RollBackReport report : reports) {
            report.restoredSha256().forEach((relative, sha256) -> digests.put(
                    relative.isEmpty() ? report.dataPath().toString() : report.dataPath().resolve(relative).toString(),
                    sha256));
        }
        return digests;
    }
}
