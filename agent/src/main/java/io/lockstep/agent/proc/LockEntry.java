package io.lockstep.agent.proc;

import java.util.Arrays;

/**
 * One lock as the kernel prints it in /proc/locks and in fdinfo {@code lock:} lines
 * (fs/locks.c, lock_get_status):
 * {@code 1: POSIX  ADVISORY  WRITE 1234 08:01:5678 0 EOF}, a waiter as
 * {@code 1: -> POSIX  ADVISORY  WRITE 1235 08:01:5678 0 EOF}.
 *
 * @param ordinal the number before the colon: in /proc/locks a waiter repeats the ordinal of the
 *     lock it waits on; in fdinfo it only counts the fd's own locks
 * @param kind POSIX, OFDLCK, FLOCK, LEASE, DELEG (as printed)
 * @param mode ADVISORY for locks; ACTIVE, BREAKING, BREAKER for leases
 * @param type READ, WRITE or UNLCK
 * @param pid the owner's pid; -1 for OFD locks (they belong to an open file description)
 * @param major device major of the file system (printed in hex), -1 when the kernel printed
 *     {@code <none>}
 * @param end inclusive end; -1 for EOF
 */
public record LockEntry(
        int ordinal,
        boolean waiter,
        String kind,
        String mode,
        String type,
        int pid,
        int major,
        int minor,
        long inode,
        long start,
        long end) {

    public static final long EOF = -1;

    /** "major:minor" in decimal, comparable with {@link MountInfo#device()}. */
    public String device() {
        return major + ":" + minor;
    }

    public boolean sameFile(LockEntry other) {
        return major == other.major && minor == other.minor && inode == other.inode;
    }

    /** Same lock as {@code other}, ignoring ordinal and owner: file, kind, type and range. */
    public boolean sameLock(LockEntry other) {
        return sameFile(other) && kind.equals(other.kind) && type.equals(other.type)
                && start == other.start && end == other.end;
    }

    /**
     * Parses a full /proc/locks line, ordinal included. Splits on whitespace by hand: a capture
     * parses every line of /proc/locks and of the group's fdinfo (100k lines for 50k locks), and a
     * regex split per line was most of its time.
     */
    public static LockEntry parse(String line) {
        int colon = line.indexOf(':');
        if (colon <= 0) {
            throw new IllegalArgumentException("malformed lock line (no ordinal): " + line);
        }
        try {
            int ordinal = Integer.parseInt(line.substring(0, colon).trim());
            String[] f = fields(line, colon + 1);
            boolean waiter = f.length > 0 && "->".equals(f[0]);
            int i = waiter ? 1 : 0;
            if (f.length - i != 7) {
                throw new IllegalArgumentException("malformed lock line (expected 7 fields after the ordinal): " + line);
            }
            int major = -1;
            int minor = -1;
            long inode = 0;
            String file = f[i + 4];
            if (!file.startsWith("<none>")) {
                int first = file.indexOf(':');
                int second = first < 0 ? -1 : file.indexOf(':', first + 1);
                if (first < 0 || second < 0 || file.indexOf(':', second + 1) >= 0) {
                    throw new IllegalArgumentException("malformed major:minor:inode '" + file + "' in lock line: " + line);
                }
                major = Integer.parseInt(file, 0, first, 16);
                minor = Integer.parseInt(file, first + 1, second, 16);
                inode = Long.parseLong(file, second + 1, file.length(), 10);
            }
            long end = f[i + 6].equals("EOF") ? EOF : Long.parseLong(f[i + 6]);
            return new LockEntry(ordinal, waiter, f[i], f[i + 1], f[i + 2], Integer.parseInt(f[i + 3]),
                    major, minor, inode, Long.parseLong(f[i + 5]), end);
        } catch (NumberFormatException e) {
            throw new IllegalArgumentException("malformed number in lock line: " + line, e);
        }
    }

    /** The whitespace-separated fields of {@code line} from index {@code from}; at most 9 are kept apart. */
    private static String[] fields(String line, int from) {
        String[] fields = new String[9];
        int count = 0;
        int i = from;
        int n = line.length();
        while (i < n) {
            while (i < n && Character.isWhitespace(line.charAt(i))) {
                i++;
            }
            if (i == n) {
                break;
            }
            int start = i;
            while (i < n && !Character.isWhitespace(line.charAt(i))) {
                i++;
            }
            if (count == fields.length) {
                // too many fields: the caller's count check rejects the line
                return new String[fields.length + 1];
            }
            fields[count++] = line.substring(start, i);
        }
        return Arrays.copyOf(fields, count);
    }
}
