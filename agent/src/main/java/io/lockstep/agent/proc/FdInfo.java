package io.lockstep.agent.proc;

import java.io.IOException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

/**
 * {@code /proc/<pid>/fdinfo/<fd>}: offset, open flags, mount and inode, and the locks on the
 * open file description.
 *
 * <p>Measured on Linux 6.18 (fs/locks.c show_fd_locks): the {@code lock:} lines of an fd list
 * the held locks whose file is this fd's open file description and whose owner is either that
 * description (OFD, FLOCK) or this process's files table (POSIX). So a POSIX lock shows up on
 * the fd it was taken through (and on dup()s of it), not on other fds that opened the same file
 * separately. Locks a process is <em>waiting</em> for never show up in fdinfo, for any kind.
 */
public record FdInfo(long pos, int flags, int mntId, long inode, List<LockEntry> locks) {

    public FdInfo {
        locks = List.copyOf(locks);
    }

    public static FdInfo parse(String text) {
        long pos = 0;
        int flags = 0;
        int mntId = -1;
        long inode = 0;
        List<LockEntry> locks = new ArrayList<>();
        for (int from = 0, next; from < text.length(); from = next + 1) {
            next = text.indexOf('\n', from);
            if (next < 0) {
                next = text.length();
            }
            String line = text.substring(from, next);
            int colon = line.indexOf(':');
            if (colon < 0) {
                continue;
            }
            String key = line.substring(0, colon);
            String value = line.substring(colon + 1).trim();
            try {
                switch (key) {
                    case "pos" -> pos = Long.parseLong(value);
                    case "flags" -> flags = Integer.parseInt(value, 8);
                    case "mnt_id" -> mntId = Integer.parseInt(value);
                    case "ino" -> inode = Long.parseLong(value);
                    case "lock" -> locks.add(LockEntry.parse(value));
                    default -> {
                        // eventfd-count, tfd, inotify, ...: kind-specific details we do not record
                    }
                }
            } catch (NumberFormatException e) {
                throw new IllegalArgumentException("malformed fdinfo line: " + line, e);
            }
        }
        return new FdInfo(pos, flags, mntId, inode, locks);
    }

    public static FdInfo read(int pid, int fd) throws IOException {
        return read(pid, fd, new ProcFileReader());
    }

    public static FdInfo read(int pid, int fd, ProcFileReader reader) throws IOException {
        return parse(reader.read(Path.of("/proc", Integer.toString(pid), "fdinfo", Integer.toString(fd))));
    }
}
