package io.lockstep.agent.snapshot;

import io.lockstep.agent.nativeio.NativeException;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import io.lockstep.agent.nativeio.Native;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Set;
import jnr.ffi.Pointer;

/**
 * Clones every file of the data path (FICLONE) into {@code .lockstep-snapshots/<checkpoint>/<key>} at the
 * root of its file system: XFS with reflink, btrfs, and NFS 4.2 where the server clones. The window pays
 * one ioctl per file; no data is copied.
 */
public final class ReflinkEngine implements SnapshotEngine {
    public static final String NAME = "reflink";

    @Override
    public String name() {
        return NAME;
    }

    @Override
    public Snapshot take(String checkpointId, DataPath dataPath) throws SnapshotException {
        long started = System.nanoTime();
        Path snapshots = fileSystemRoot(dataPath.path()).resolve(DataFiles.SNAPSHOT_DIR);
        Path location = snapshots.resolve(checkpointId).resolve(dataPath.key());
        List<SnapshotFile> files = new ArrayList<>();
        long bytes = 0;
        String current = dataPath.path().toString();
        try {
            List<String> names = DataFiles.regularFileNames(dataPath.path()).orElse(null);
            if (names == null) {
                names = new ArrayList<>(DataFiles.regularFiles(dataPath.path()).keySet());
            }
            createLocation(snapshots, location);
            // Native paths built as strings, one statx per file from the source's open fd, no Path per file:
            // the window pays the syscalls of the clone and little else. Each directory is created once.
            String from = dataPath.path().toString();
            String to = location.toString();
            Pointer statx = Native.statxBuffer();
            Set<String> directories = new HashSet<>();
            for (String relative : names) {
                int slash = relative.lastIndexOf('/');
                if (slash > 0 && directories.add(relative.substring(0, slash))) {
                    Files.createDirectories(location.resolve(relative.substring(0, slash)));
                }
                String source = relative.isEmpty() ? from : from + "/" + relative;
                current = source;
                String target = to + "/" + (relative.isEmpty() ? "file" : relative);
                Native.SizeAndMode cloned;
                if (dataPath.shared()) {
                    Optional<Native.SizeAndMode> created = Clones.cloneFileUnlessPresent(source, target, statx);
                    if (created.isEmpty()) {
                        // Another host holding the same file created this snapshot first: it is that host's to delete.
                        long size = Files.size(dataPath.path());
                        return new Snapshot(checkpointId, NAME, dataPath.path(), false, location.toString(),
                                List.of(new SnapshotFile("", size, DataFiles.mode(dataPath.path()), Optional.empty())), size,
                                0, System.nanoTime() - started, Optional.empty(), true);
                    }
                    cloned = created.get();
                } else {
                    cloned = Clones.cloneFile(source, target, statx);
                }
                files.add(new SnapshotFile(relative, cloned.size(), cloned.mode(), Optional.empty()));
                bytes += cloned.size();
            }
        } catch (IOException e) {
            if (dataPath.shared()) {
                // A shared location may hold another host's snapshot of the same file: only an empty one goes.
                try {
                    deleteIfEmpty(location);
                } catch (IOException ignored) {
                    // Best effort after a failed snapshot: what is left is named by the failure reported below.
                }
            } else {
                removeQuietly(location);
            }
            if (e instanceof NativeException n && Clones.unsupported(n)) {
                throw new SnapshotRefusedException("reflink snapshot of " + dataPath.path() + " refused: the file system of "
                        + current + " cannot clone files (" + e.getMessage() + "); choose the copy engine");
            }
            throw new SnapshotException("reflink snapshot of " + dataPath.path() + " failed at " + current + ": "
                    + e.getMessage(), e);
        }
        return new Snapshot(checkpointId, NAME, dataPath.path(), Files.isDirectory(dataPath.path()), location.toString(),
                files, bytes, 0, System.nanoTime() - started, Optional.empty());
    }

    /**
     * The file system root of a data path, found once (a stat per ancestor) and then only checked: the data path
     * still has the st_dev it had. The window pays one stat for it.
     */
    private Path fileSystemRoot(Path dataPath) throws SnapshotException {
        try {
            Object dev = Files.getAttribute(dataPath, "unix:dev", java.nio.file.LinkOption.NOFOLLOW_LINKS);
            KnownRoot known = roots.get(dataPath);
            if (known != null && known.dev().equals(dev)) {
                return known.root();
            }
            Path root = DataFiles.fileSystemRoot(dataPath);
            roots.put(dataPath, new KnownRoot(dev, root));
            return root;
        } catch (IOException e) {
            throw new SnapshotException(NAME + " snapshot of " + dataPath + ": " + e.getMessage(), e);
        }
    }

    private record KnownRoot(Object dev, Path root) {
    }

    private final Map<Path, KnownRoot> roots = new java.util.concurrent.ConcurrentHashMap<>();

    /** {@code .lockstep-snapshots/<checkpoint>/<key>}, directory by directory: no failed mkdir or access check per level. */
    private static void createLocation(Path snapshots, Path location) throws IOException {
        if (!Files.isDirectory(snapshots, java.nio.file.LinkOption.NOFOLLOW_LINKS)) {
            Files.createDirectories(snapshots);
        }
        for (Path dir : List.of(location.getParent(), location)) {
            try {
                Files.createDirectory(dir);
            } catch (java.nio.file.FileAlreadyExistsException another) {
                // Another data path of the same checkpoint on this file system, or another host holding the same
                // shared file, created it; a file of that name is an error.
                if (!Files.isDirectory(dir, java.nio.file.LinkOption.NOFOLLOW_LINKS)) {
                    throw another;
                }
            }
        }
    }

    /** The clones' names and extents reach the disk with one syncfs of their file system, after the thaw. */
    @Override
    public Snapshot makeDurable(Snapshot snapshot) throws SnapshotException {
        try {
            Native.syncfs(snapshot.location());
            return snapshot;
        } catch (IOException e) {
            throw new SnapshotException("making the reflink snapshot " + snapshot.location() + " of checkpoint "
                    + snapshot.checkpointId() + " durable failed: " + e.getMessage(), e);
        }
    }

    /** The clone of a data path that is one file is named "file" in the snapshot directory. */
    private static Path cloneTarget(Path location, String relativePath) {
        return location.resolve(relativePath.isEmpty() ? "file" : relativePath);
    }

    @Override
    public RollBackReport rollBack(Snapshot snapshot) throws SnapshotException {
        Path location = Path.of(snapshot.location());
        if (!Files.isDirectory(location)) {
            throw new RollBackException("roll-back of " + snapshot.dataPath() + " to checkpoint " + snapshot.checkpointId()
                    + " failed: its reflink snapshot " + location + " is gone; the current files are untouched", null);
        }
        Map<String, StagedRollBack.Source> wanted = new LinkedHashMap<>();
        for (SnapshotFile file : snapshot.files()) {
            Path source = cloneTarget(location, file.relativePath());
            wanted.put(file.relativePath(), StagedRollBack.Source.cloneOf(source, file.size(), file.mode()));
        }
        return StagedRollBack.apply(snapshot.checkpointId(), snapshot.dataPath(), snapshot.directory(), wanted);
    }

    @Override
    public void delete(Snapshot snapshot) throws SnapshotException {
        Path location = Path.of(snapshot.location());
        try {
            DataFiles.deleteTree(location);
            deleteIfEmpty(location.getParent());
        } catch (IOException e) {
            throw new SnapshotException("deleting the reflink snapshot " + location + " of checkpoint "
                    + snapshot.checkpointId() + " failed: " + e.getMessage(), e);
        }
    }

    private static void removeQuietly(Path location) {
        try {
            DataFiles.deleteTree(location);
            deleteIfEmpty(location.getParent());
            deleteIfEmpty(location.getParent().getParent());
        } catch (IOException ignored) {
            // Best effort after a failed snapshot: what is left is named by the failure reported above.
        }
    }

    static void deleteIfEmpty(Path dir) throws IOException {
        try (var entries = Files.list(dir)) {
            if (entries.findAny().isEmpty()) {
                Files.delete(dir);
            }
        } catch (java.nio.file.NoSuchFileException gone) {
            // Already removed.
        }
    }
}
