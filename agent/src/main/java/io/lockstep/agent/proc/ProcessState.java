package io.lockstep.agent.proc;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;

/** Whether a process still runs, as /proc says: a process that was killed stays a zombie until its parent reaps it. */
public final class ProcessState {
    private ProcessState() {
    }

    /**
     * Gone from /proc, or a zombie (or dead): its files, fds and locks are already released. Java's
     * {@code Process.isAlive()} and {@code ProcessHandle.isAlive()} still say true for a zombie, until
     * the JVM's reaper or another parent has waited for it.
     */
    public static boolean exited(long pid) {
        return exited(Path.of("/proc", Long.toString(pid)));
    }

    /** As {@link #exited(long)}, for the process's /proc directory. */
    public static boolean exited(Path procDir) {
        try {
            return Files.readAllLines(procDir.resolve("status")).stream()
                    .anyMatch(l -> l.startsWith("State:") && (l.contains("Z (zombie)") || l.contains("X (dead)")));
        } catch (IOException e) {
            return true;
        }
    }
}
