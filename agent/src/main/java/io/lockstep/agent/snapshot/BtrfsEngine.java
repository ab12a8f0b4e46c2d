package io.lockstep.agent.snapshot;

import io.lockstep.agent.nativeio.LibC;
import io.lockstep.agent.nativeio.Native;
import io.lockstep.agent.nativeio.NativeException;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;

/**
 * A read-only snapshot of the btrfs subvolume holding the data path (BTRFS_IOC_SNAP_CREATE_V2), named
 * {@code <checkpoint>-<key>} in {@code .lockstep-snapshots} at the subvolume's root. The window pays one
 * ioctl whatever the data's size; roll-back clones the files back out of the snapshot.
 */
public final class BtrfsEngine implements SnapshotEngine {
    public static final String NAME = "btrfs";

    @Override
    public String name() {
        return NAME;
    }

    @Override
    public Snapshot take(String checkpointId, DataPath dataPath) throws SnapshotException {
        long started = System.nanoTime();
        try {
            String type = Files.getFileStore(dataPath.path()).type();
            if (!type.equals("btrfs")) {
                throw new SnapshotRefusedException("btrfs snapshot of " + dataPath.path() + " refused: it is on " + type
                        + ", not btrfs");
            }
        } catch (SnapshotException e) {
            throw e;
        } catch (IOException e) {
            throw new SnapshotException("btrfs snapshot of " + dataPath.path() + ": " + e.getMessage(), e);
        }
        Path subvolume = DataFiles.snapshotFileSystemRoot(NAME, dataPath.path());
        Path parent = subvolume.resolve(DataFiles.SNAPSHOT_DIR);
        String name = checkpointId + "-" + dataPath.key();
        try {
            Files.createDirectories(parent);
            int dirFd = Native.open(parent.toString(), LibC.O_RDONLY | LibC.O_DIRECTORY | LibC.O_CLOEXEC, 0);
            try {
                int subvolumeFd = Native.open(subvolume.toString(), LibC.O_RDONLY | LibC.O_DIRECTORY | LibC.O_CLOEXEC, 0);
                try {
                    Native.btrfsSnapshotReadOnly(dirFd, subvolumeFd, name, subvolume + " -> " + parent.resolve(name));
                } finally {
                    Native.close(subvolumeFd);
                }
            } finally {
                Native.close(dirFd);
            }
        } catch (IOException e) {
            throw new SnapshotException("btrfs snapshot of " + dataPath.path() + " (subvolume " + subvolume + ") failed: "
                    + e.getMessage(), e);
        }
        Path location = parent.resolve(name);
        return new Snapshot(checkpointId, NAME, dataPath.path(), Files.isDirectory(dataPath.path()),
                location.resolve(subvolume.relativize(dataPath.path())).toString(), List.of(), 0, 0,
                System.nanoTime() - started, Optional.empty());
    }

    @Override
    public RollBackReport rollBack(Snapshot snapshot) throws SnapshotException {
        Path copy = Path.of(snapshot.location());
        Map<String, StagedRollBack.Source> wanted = new LinkedHashMap<>();
        try {
            for (Map.Entry<String, Path> file : DataFiles.regularFiles(copy).entrySet()) {
                int mode = DataFiles.mode(file.getValue());
                long size = Files.size(file.getValue());
                wanted.put(file.getKey(), StagedRollBack.Source.cloneOf(file.getValue(), size, mode));
            }
        } catch (IOException e) {
            throw new RollBackException("roll-back of " + snapshot.dataPath() + " to checkpoint " + snapshot.checkpointId()
                    + " failed reading its btrfs snapshot " + copy + ": " + e.getMessage()
                    + "; the current files are untouched", e);
        }
        return StagedRollBack.apply(snapshot.checkpointId(), snapshot.dataPath(), snapshot.directory(), wanted);
    }

    @Override
    public void delete(Snapshot snapshot) throws SnapshotException {
        Path subvolumeSnapshot = snapshotRoot(snapshot);
        if (!Files.exists(subvolumeSnapshot)) {
            return;
        }
        try {
            int dirFd = Native.open(subvolumeSnapshot.getParent().toString(),
                    LibC.O_RDONLY | LibC.O_DIRECTORY | LibC.O_CLOEXEC, 0);
            try {
                Native.btrfsDestroySubvolume(dirFd, subvolumeSnapshot.getFileName().toString(),
                        subvolumeSnapshot.toString());
            } finally {
                Native.close(dirFd);
            }
        } catch (NativeException e) {
            throw new SnapshotException("deleting the btrfs snapshot " + subvolumeSnapshot + " of checkpoint "
                    + snapshot.checkpointId() + " failed: " + e.getMessage(), e);
        }
    }

    /** The snapshot subvolume itself: the ancestor of the location directly inside .lockstep-snapshots. */
    private static Path snapshotRoot(Snapshot snapshot) {
        Path p = Path.of(snapshot.location());
        while (p.getParent() != null && !p.getParent().getFileName().toString().equals(DataFiles.SNAPSHOT_DIR)) {
            p = p.getParent();
        }
        return p;
    }
}
