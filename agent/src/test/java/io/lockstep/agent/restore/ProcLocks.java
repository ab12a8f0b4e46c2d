package io.lockstep.agent.restore;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

/** The kernel's lock table as /proc/locks shows it, as the restore tests read it. */
final class ProcLocks {
    private ProcLocks() {
    }

    /** One line of /proc/locks; {@code end} is -1 for EOF, {@code kind} is POSIX, OFDLCK, FLOCK, ... */
    record Entry(String kind, boolean waiting, String type, int pid, int major, int minor, long inode,
                 long start, long end) {
    }

    static List<Entry> read() throws IOException {
        List<Entry> entries = new ArrayList<>();
        for (String line : Files.readAllLines(Path.of("/proc/locks"))) {
            String[] t = line.trim().split("\\s+");
            int i = 1;
            boolean waiting = t.length > 1 && t[1].equals("->");
            if (waiting) {
                i++;
            }
            if (t.length < i + 7) {
                continue;
            }
            String[] file = t[i + 4].split(":");
            entries.add(new Entry(t[i], waiting, t[i + 2], Integer.parseInt(t[i + 3]),
                    Integer.parseInt(file[0], 16), Integer.parseInt(file[1], 16), Long.parseLong(file[2]),
                    Long.parseLong(t[i + 5]), t[i + 6].equals("EOF") ? -1 : Long.parseLong(t[i + 6])));
        }
        return entries;
    }
}
