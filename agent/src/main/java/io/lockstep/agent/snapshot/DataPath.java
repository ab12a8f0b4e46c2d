package io.lockstep.agent.snapshot;

import java.nio.file.Path;
import java.util.Optional;

/**
 * What one snapshot covers: a directory (every regular file below it; files created there after the
 * checkpoint are removed by a roll-back) or a single file, with the engine the operator chose, if any.
 */
public record DataPath(Path path, Optional<String> engine, Optional<SnapshotCommands> commands) {
    public DataPath {
        if (!path.isAbsolute()) {
            throw new IllegalArgumentException("data path " + path + " is not absolute");
        }
        path = path.normalize();
    }

    public static DataPath of(Path path) {
        return new DataPath(path, Optional.empty(), Optional.empty());
    }

    public static DataPath of(Path path, String engine) {
        return new DataPath(path, Optional.of(engine), Optional.empty());
    }

    /** A data path whose snapshots the operator's commands take, roll back and delete. */
    public static DataPath withCommands(Path path, SnapshotCommands commands) {
        return new DataPath(path, Optional.of(CommandEngine.NAME), Optional.of(commands));
    }
}
