package io.lockstep.agent.snapshot;

import java.nio.file.Path;
import java.util.Optional;
import java.util.OptionalLong;

/**
 * What one snapshot covers: a directory (every regular file below it; files created there after the
 * checkpoint are removed by a roll-back) or a single file, with the engine the operator chose, if any.
 * {@code key} names the snapshot inside a checkpoint's snapshot directory or store.
 */
public record DataPath(Path path, Optional<String> engine, Optional<SnapshotCommands> commands, String key,
                       OptionalLong copyMaxBytes) {
    public DataPath(Path path, Optional<String> engine, Optional<SnapshotCommands> commands, String key) {
        this(path, engine, commands, key, OptionalLong.empty());
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
     * A file the group holds open on a network file system, found at capture by {@code host}: keyed by host
     * too, as processes on two hosts may hold the same file and each host snapshots what its own hold.
     */
    public static DataPath heldBy(String host, Path file) {
        return new DataPath(file, Optional.empty(), Optional.empty(),
                SnapshotKeys.of(host + "\0" + file.normalize()));
    }

    /** The same data path with its own bound on what the copy engine may copy inside the window. */
    public DataPath withCopyMaxBytes(long maxBytes) {
        return new DataPath(path, engine, commands, key, OptionalLong.of(maxBytes));
    }
}
