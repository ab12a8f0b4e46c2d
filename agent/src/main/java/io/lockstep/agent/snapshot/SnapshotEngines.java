package io.lockstep.agent.snapshot;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Map;
import java.util.UUID;
import java.util.concurrent.ConcurrentHashMap;

/**
 * The engines an agent offers, and the best one for a data path the operator left to choose: btrfs on
 * btrfs, reflink where the file system clones, copy elsewhere. The command engine is only used when
 * the operator declares it with its commands.
 */
public final class SnapshotEngines {
    private final Map<String, SnapshotEngine> byName;
    private final Map<Path, Boolean> clonesByFileSystem = new ConcurrentHashMap<>();

    public SnapshotEngines(Path copyStore, long copyMaxBytes, Duration commandTimeout) {
        this.byName = Map.of(ReflinkEngine.NAME, new ReflinkEngine(), BtrfsEngine.NAME, new BtrfsEngine(),
                CommandEngine.NAME, new CommandEngine(commandTimeout), CopyEngine.NAME, new CopyEngine(copyStore, copyMaxBytes));
    }

    public SnapshotEngine named(String name) throws SnapshotRefusedException {
        SnapshotEngine engine = byName.get(name);
        if (engine == null) {
            throw new SnapshotRefusedException("no snapshot engine named " + name + " (known: reflink, btrfs, command, copy)");
        }
        return engine;
    }

    public SnapshotEngine forPath(DataPath dataPath) throws SnapshotException {
        if (dataPath.engine().isPresent()) {
            return named(dataPath.engine().get());
        }
        try {
            if (Files.getFileStore(dataPath.path()).type().equals("btrfs")) {
                return byName.get(BtrfsEngine.NAME);
            }
            Path root = DataFiles.fileSystemRoot(dataPath.path());
            return clonesByFileSystem.computeIfAbsent(root, SnapshotEngines::clones)
                    ? byName.get(ReflinkEngine.NAME) : byName.get(CopyEngine.NAME);
        } catch (IOException e) {
            throw new SnapshotException("choosing a snapshot engine for " + dataPath.path() + ": " + e.getMessage(), e);
        }
    }

    /** Whether the file system at {@code root} clones: one probe file, cloned once, both removed. */
    private static boolean clones(Path root) {
        Path probes = root.resolve(DataFiles.SNAPSHOT_DIR);
        Path source = probes.resolve("probe-" + UUID.randomUUID());
        Path clone = probes.resolve(source.getFileName() + ".clone");
        try {
            Files.createDirectories(probes);
            Files.writeString(source, "lockstep reflink probe\n");
            Clones.cloneFile(source, clone);
            return true;
        } catch (IOException e) {
            return false;
        } finally {
            try {
                Files.deleteIfExists(clone);
                Files.deleteIfExists(source);
                ReflinkEngine.deleteIfEmpty(probes);
            } catch (IOException ignored) {
                // The probe files are named .lockstep-snapshots/probe-*; they cost nothing where left.
            }
        }
    }
}
