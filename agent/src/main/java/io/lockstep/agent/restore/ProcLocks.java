package io.lockstep.agent.restore;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

/**
 * The kernel's lock table as /proc/locks shows it. The stub reads it only to name the holder
 * of a conflicting flock or OFD lock, which fcntl(F_GETLK) cannot report.
 */
final class ProcLocks {
    private ProcLocks() {
    }

    /** One line of /proc/locks; {@code end} is -1 for EOF, {@code kind} is POSIX, OFDLCK, FLOCK, ... */
    record Entry(String kind, boolean waiting, String type, int pid, int major, int minor, long inode,
                 long start, long end) {
        boolean overlaps(long otherStart, long otherEnd) {
            boolean startsBeforeOtherEnds = otherEnd < 0 || start <= otherEnd;
            boolean endsAfterOtherStarts = end < 0 || end >= otherStart;
            return startsBeforeOtherEnds && endsAfterOtherStarts;
        }

        boolean onFile(long dev, long ino) {
            return inode == ino && major == devMajor(dev) && minor == devMinor(dev);
        }
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

    /** glibc's gnu_dev_major / gnu_dev_minor of a user-space st_dev. */
    static int devMajor(long dev) {
        return (int) (((dev >>> 8) & 0xfff) | ((dev >>> 32) & 0xfffff000L));
    }

    static int devMinor(long dev) {
        return (int) ((dev & 0xff) | ((dev >>> 12) & 0xffffff00L));
    }

    /**
     * The pid of a granted lock of one of {@code kinds} on the file (st_dev, st_ino) that overlaps
     * the range and conflicts with {@code type}, other than {@code selfPid}'s own POSIX locks
     * (which never conflict with each other); -1 when none is visible.
     */
    static int holder(long dev, long ino, List<String> kinds, String type, long start, long end, int selfPid)
            throws IOException {
        for (Entry e : read()) {
            if (e.waiting() || !kinds.contains(e.kind()) || !e.onFile(dev, ino) || !e.overlaps(start, end)) {
                continue;
            }
            if (e.kind().equals("POSIX") && e.pid() == selfPid) {
                continue;
            }
            if (type.equals("WRITE") || e.type().equals("WRITE")) {
                return e.pid();
            }
        }
        return -1;
    }
}
