package io.lockstep.coordinator.testing;

import io.lockstep.proto.DataPathRecord;
import io.lockstep.zk.DataPaths;
import io.lockstep.zk.ZkLayout;
import org.apache.curator.framework.CuratorFramework;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;

/**
 * Holds one host inside its capture, so that a test can act while the group is frozen: the hosts end the
 * window by themselves (the last host closes each barrier and thaws), so the coordinator sees no frozen
 * moment of its own. Declares a local data path for the group whose operator snapshot command lets the
 * first host that runs it (inside its capture) wait until a release file exists (at most 60 s); the other
 * hosts capture and wait, frozen, for the all-captured signal that the held host's capture gives.
 * {@link #close} creates the file (it never blocks): the held capture ends, the checkpoint goes on. The
 * data path stays declared (later snapshots pass at once).
 */
public final class HeldCapture implements AutoCloseable {
    private final Path release;
    private boolean released;

    private HeldCapture(Path release) {
        this.release = release;
    }

    /** Holds the first capture of the next checkpoint of {@code group} on {@code cluster}. */
    public static HeldCapture ofNextCheckpoint(LocalCluster cluster, String group) throws Exception {
        return new HeldCapture(declare(cluster.coordinator().zk(), cluster.layout(), cluster.dir(), group));
    }

    /** The hold whose release file {@link #declare} named (by a coordinator in another process). */
    public static HeldCapture releasedThrough(Path release) {
        return new HeldCapture(release);
    }

    /** Declares the holding data path for {@code group} in a new directory under {@code parent}; returns its release file. */
    public static Path declare(CuratorFramework zk, ZkLayout layout, Path parent, String group) throws Exception {
        Path dir = Files.createTempDirectory(parent, "held-capture-");
        Path data = Files.createDirectories(dir.resolve("data"));
        Path release = dir.resolve("release");
        String firstWaits = "if mkdir " + dir.resolve("first") + " 2>/dev/null; then i=0; while [ ! -e " + release
                + " ] && [ $i -lt 1200 ]; do sleep 0.05; i=$((i+1)); done; fi";
        new DataPaths(zk, layout).put(group, DataPathRecord.newBuilder()
                .setPath(data.toString()).setEngine("command").setSnapshotCommand(firstWaits)
                .setRollbackCommand("true").setDeleteCommand("true").build());
        return release;
    }

    /** Lets the held capture end. */
    @Override
    public void close() throws IOException {
        if (!released) {
            released = true;
            Files.writeString(release, "go\n");
        }
    }
}
