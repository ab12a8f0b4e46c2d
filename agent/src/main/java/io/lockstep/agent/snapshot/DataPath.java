package io.lockstep.agent.snapshot;

import java.nio.file.Path;
import java.util.Optional;
import java.util.OptionalLong;

/**
 * What one snapshot covers: a directory (every regular file below it; files created there after the
 * checkpoint are removed by a roll-back) or a single file, with the engine the operator chose, if any.
 * {@code key} names the snapshot inside a checkpoint's snapshot directory or store. {@code shared}: other hosts
 * may take the same snapshot (same key, same file system); the first to create it takes it.
 */
public record DataPath(Path path, Optional<String> engine, Optional<SnapshotCommands> commands, String key,
                       OptionalLong copyMaxBytes, boolean shared) {
    public DataPath(Path path, Optional<String> engine, Optional<SnapshotCommands> commands, String key) {
        this(path, engine, commands, key, OptionalLong.empty(), false);
    }

    public DataPath {
        if (!path.isAbsolute()) {
            throw new IllegalArgumentException("data path " + path + " is not absolute");
        }
        path = path.normalize();
    }

    public static DataPath of(Path path) {
        return new DataPath(path, Optional.empty(), Optional.empty(), SnapshotKeys.of(path.normalize().toString()));
    }

    public static DataPath of(Path path, String engine) {
        return new DataPath(path, Optional.of(engine), Optional.empty(), SnapshotKeys.of(path.normalize().toString()));
    }

    /** A data path whose snapshots the operator's commands take, roll back and delete. */
    public static DataPath withCommands(Path path, SnapshotCommands commands) {
        return new DataPath(path, Optional.of(CommandEngine.NAME), Optional.of(commands),
                SnapshotKeys.of(path.normalize().toString()));
    }

    /**
     * A file the group holds open on a network file system, found at capture: keyed by its export and its path
     * there ({@code identity}), not by host, so that hosts holding the same file name the same snapshot and
     * only the first to create it takes it ({@link #shared}).
     */
    public static DataPath held(String exportSource, String pathInExport, Path file) {
        return new DataPath(file, Optional.empty(), Optional.empty(),
                SnapshotKeys.of("held\0" + exportSource + "\0" + pathInExport), OptionalLong.empty(), true);
    }

    /** The same data path with its own bound on what the copy engine may copy inside the window. */
    public DataPath withCopyMaxBytes(long maxBytes) {
        return new DataPath(path, engine, commands, key, OptionalLong.of(maxBytes), shared);
    }
}
