package io.lockstep.agent.proc;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;

/** The system-wide lock table, /proc/locks. */
public final class ProcLocks {
    private static final Path PROC_LOCKS = Path.of("/proc/locks");

    private ProcLocks() {
    }

    public static List<LockEntry> parse(String text) {
        return text.lines().filter(l -> !l.isBlank()).map(LockEntry::parse).toList();
    }

    public static List<LockEntry> read() throws IOException {
        return parse(Files.readString(PROC_LOCKS));
    }
}
