package io.lockstep.agent.snapshot;

import java.nio.file.Path;
import java.util.List;
import java.util.Optional;

/**
 * A data path's snapshot for one checkpoint: which engine took it, where it lives (a directory, a
 * subvolume, or the operator's command's name for it), the files it holds, and what it cost inside the
 * frozen window: its time and the bytes it copied (zero for engines that share blocks). {@code takenByAnotherHost}:
 * a shared snapshot ({@link DataPath#shared}) another host created first; this host records it, never deletes it.
 */
public record Snapshot(String checkpointId, String engine, Path dataPath, boolean directory, String location,
                       List<SnapshotFile> files, long bytes, long copiedBytes, long costNanos, Optional<SnapshotCommands> commands,
                       boolean takenByAnotherHost) {
    public Snapshot {
        files = List.copyOf(files);
    }

    public Snapshot(String checkpointId, String engine, Path dataPath, boolean directory, String location,
                    List<SnapshotFile> files, long bytes, long copiedBytes, long costNanos, Optional<SnapshotCommands> commands) {
        this(checkpointId, engine, dataPath, directory, location, files, bytes, copiedBytes, costNanos, commands, false);
    }

    /** The same snapshot with its files' records replaced (the copy engine's digests, completed after the thaw). */
    public Snapshot withFiles(List<SnapshotFile> completed) {
        return new Snapshot(checkpointId, engine, dataPath, directory, location, completed, bytes, copiedBytes, costNanos,
                commands, takenByAnotherHost);
    }
}
