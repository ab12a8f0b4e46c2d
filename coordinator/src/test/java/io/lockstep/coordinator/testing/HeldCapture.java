package io.lockstep.coordinator.testing;

import io.lockstep.proto.DataPathRecord;
import io.lockstep.zk.DataPaths;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;

/**
 * Holds one host inside its capture, so that a test can act while the group is frozen: the hosts end the
 * window by themselves (the last host closes each barrier and thaws), so the coordinator sees no frozen
 * moment of its own. Declares a local data path for the group whose operator snapshot command lets the
 * first host that runs it (inside its capture) wait on a FIFO; the other hosts capture and wait, frozen,
 * for the all-captured signal that the held host's capture gives. {@link #close} opens the FIFO: the held
 * capture ends, the checkpoint goes on. The data path stays declared (later snapshots pass at once).
 */
public final class HeldCapture implements AutoCloseable {
    private final Path release;
    private boolean released;

    private HeldCapture(Path release) {
        this.release = release;
    }

    /** Holds the first capture of the next checkpoint of {@code group} on {@code cluster}. */
    public static HeldCapture ofNextCheckpoint(LocalCluster cluster, String group) throws Exception {
        Path dir = Files.createTempDirectory(cluster.dir(), "held-capture-");
        Path data = Files.createDirectories(dir.resolve("data"));
        Path release = dir.resolve("release");
        Process mkfifo = new ProcessBuilder("mkfifo", release.toString()).inheritIO().start();
        if (mkfifo.waitFor() != 0) {
            throw new IOException("mkfifo " + release + " failed (exit " + mkfifo.exitValue() + ")");
        }
        String firstWaits = "if mkdir " + dir.resolve("first") + " 2>/dev/null; then cat " + release + " > /dev/null; fi";
        new DataPaths(cluster.coordinator().zk(), cluster.layout()).put(group, DataPathRecord.newBuilder()
                .setPath(data.toString()).setEngine("command").setSnapshotCommand(firstWaits)
                .setRollbackCommand("true").setDeleteCommand("true").build());
        return new HeldCapture(release);
    }

    /** Lets the held capture end (opening the FIFO returns once the snapshot command reads it). */
    @Override
    public void close() throws IOException {
        if (!released) {
            released = true;
            Files.writeString(release, "go\n");
        }
    }
}
