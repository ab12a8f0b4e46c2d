package io.lockstep.agent.restore;

import io.lockstep.files.PrivateFiles;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;

/**
 * The agent's own per-process output files ({@code <state>/groups/<g>/logs/<pid>.log}), which
 * `agent run` and a restore give a program as fds 1 and 2. They belong to the agent, not to the
 * application: a checkpoint marks them, and a restore creates a fresh one on the target host
 * instead of reopening the recorded one. Each is private (0600) and owned by the program's
 * uid/gid, so that an operator sees whose output it is and the program's user may read it.
 */
public final class OutputLogs {
    private OutputLogs() {
    }

    /** A new, empty output file under {@code dir} for a program that runs as uid/gid, not yet named by pid. */
    public static Path create(Path dir, int uid, int gid) throws IOException {
        PrivateFiles.createDirectories(dir);
        Path log = Files.createTempFile(dir, "run-", ".log", PrivateFiles.fileMode());
        try {
            Files.setAttribute(log, "unix:gid", gid);
            Files.setAttribute(log, "unix:uid", uid);
        } catch (IOException | RuntimeException e) {
            Files.deleteIfExists(log);
            throw new IOException("cannot give output file " + log + " to uid " + uid + " gid " + gid + ": " + e, e);
        }
        return log;
    }

    /** Renames a created output file to {@code <pid>.log}; returns its real path, as a checkpoint records it. */
    public static Path name(Path created, int pid) throws IOException {
        return Files.move(created, created.resolveSibling(pid + ".log")).toRealPath();
    }
}
