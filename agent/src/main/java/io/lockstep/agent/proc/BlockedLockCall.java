package io.lockstep.agent.proc;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.Optional;

/**
 * A thread blocked in a lock request: fcntl(F_SETLKW / F_OFD_SETLKW) or flock() without
 * LOCK_NB, read from {@code /proc/<pid>/task/<tid>/syscall} (and, for fcntl, the struct flock
 * from {@code /proc/<pid>/mem}).
 *
 * <p>Why not /proc/locks: measured on Linux 6.18, freezing a cgroup (v1 freezer and v2
 * cgroup.freeze alike) interrupts the blocked call to park the task, which removes its waiter
 * entry from /proc/locks until the thaw restarts the call; /proc/&lt;pid&gt;/syscall still names the
 * call and its arguments. Besides, a waiting OFD lock has pid -1 in /proc/locks and never shows
 * up in fdinfo, so only the syscall tells whose it is and through which fd.
 *
 * @param kind POSIX, OFD or FLOCK
 * @param write true for F_WRLCK / LOCK_EX
 * @param whence SEEK_SET, SEEK_CUR or SEEK_END as the caller passed it (FLOCK: SEEK_SET)
 * @param start l_start relative to whence (FLOCK: 0)
 * @param len l_len (0 = to end of file; FLOCK: 0)
 */
public record BlockedLockCall(int tid, String kind, int fd, boolean write, int whence, long start, long len) {

    public static final String POSIX = "POSIX";
    public static final String OFD = "OFD";
    public static final String FLOCK = "FLOCK";

    private static final int F_SETLKW = 7;
    private static final int F_OFD_SETLKW = 38;
    private static final int F_WRLCK = 1;
    private static final int LOCK_SH = 1;
    private static final int LOCK_EX = 2;
    private static final int LOCK_NB = 4;
    private static final int STRUCT_FLOCK_SIZE = 32;

    /** fcntl and flock syscall numbers of this machine's architecture. */
    private record SyscallNumbers(long fcntl, long flock) {
        static Optional<SyscallNumbers> ofThisMachine() {
            return switch (System.getProperty("os.arch")) {
                case "amd64", "x86_64" -> Optional.of(new SyscallNumbers(72, 73));
                case "aarch64", "riscv64" -> Optional.of(new SyscallNumbers(25, 32));
                default -> Optional.empty();
            };
        }
    }

    /** Inclusive range the blocked request covers; end -1 = to end of file. */
    public record Range(long start, long end) {
    }

    /** Resolves whence/start/len as the kernel does (fs/locks.c flock_to_posix_lock). */
    public Range range(long filePosition, long fileSize) {
        long base = switch (whence) {
            case 1 -> filePosition;
            case 2 -> fileSize;
            default -> 0;
        };
        long s = base + start;
        if (len > 0) {
            return new Range(s, s + len - 1);
        }
        if (len < 0) {
            return new Range(s + len, s - 1);
        }
        return new Range(s, LockEntry.EOF);
    }

    /** Whether this machine's syscall numbers are known, i.e. whether waiters can be found at all. */
    public static boolean supported() {
        return SyscallNumbers.ofThisMachine().isPresent();
    }

    /**
     * The lock request thread {@code tid} of {@code pid} is blocked in, if any.
     *
     * @throws NoSuchFileException when the thread is gone
     */
    public static Optional<BlockedLockCall> read(int pid, int tid) throws IOException {
        return read(pid, tid, new ProcFileReader());
    }

    /** {@link #read(int, int)} through the caller's reader. */
    public static Optional<BlockedLockCall> read(int pid, int tid, ProcFileReader reader) throws IOException {
        Optional<SyscallNumbers> numbers = SyscallNumbers.ofThisMachine();
        if (numbers.isEmpty()) {
            return Optional.empty();
        }
        Path task = Path.of("/proc", Integer.toString(pid), "task", Integer.toString(tid));
        String text = reader.read(task.resolve("syscall")).trim();
        // "running", or "-1 sp pc" when not in a syscall, or "nr arg1..arg6 sp pc": most threads sit
        // in some other call, which the number alone rules out
        int space = text.indexOf(' ');
        if (space < 0 || text.startsWith("running") || text.startsWith("-")) {
            return Optional.empty();
        }
        long first = Long.parseLong(text.substring(0, space));
        if (first != numbers.get().flock() && first != numbers.get().fcntl()) {
            return Optional.empty();
        }
        String[] f = text.split("\\s+");
        if (f.length < 7) {
            return Optional.empty();
        }
        long nr = Long.parseLong(f[0]);
        long[] arg = new long[6];
        for (int i = 0; i < 6; i++) {
            arg[i] = Long.parseUnsignedLong(f[i + 1].substring(2), 16);
        }
        int fd = (int) arg[0];
        if (nr == numbers.get().flock()) {
            long op = arg[1];
            if ((op & LOCK_NB) != 0 || (op & (LOCK_SH | LOCK_EX)) == 0) {
                return Optional.empty();
            }
            return Optional.of(new BlockedLockCall(tid, FLOCK, fd, (op & LOCK_EX) != 0, 0, 0, 0));
        }
        if (nr == numbers.get().fcntl() && (arg[1] == F_SETLKW || arg[1] == F_OFD_SETLKW)) {
            ByteBuffer flock = readMemory(pid, arg[2]);
            return Optional.of(new BlockedLockCall(tid, arg[1] == F_SETLKW ? POSIX : OFD, fd,
                    flock.getShort(0) == F_WRLCK, flock.getShort(2), flock.getLong(8), flock.getLong(16)));
        }
        return Optional.empty();
    }

    private static ByteBuffer readMemory(int pid, long address) throws IOException {
        Path mem = Path.of("/proc", Integer.toString(pid), "mem");
        ByteBuffer buf = ByteBuffer.allocate(STRUCT_FLOCK_SIZE).order(ByteOrder.nativeOrder());
        try (FileChannel ch = FileChannel.open(mem, StandardOpenOption.READ)) {
            while (buf.hasRemaining()) {
                if (ch.read(buf, address + buf.position()) < 0) {
                    throw new IOException("short read of struct flock at 0x" + Long.toHexString(address)
                            + " from " + mem);
                }
            }
        }
        return buf;
    }
}
