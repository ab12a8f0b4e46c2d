package io.lockstep.agent.nativeio;

import io.lockstep.names.RawNames;
import jnr.ffi.LastError;
import jnr.ffi.LibraryLoader;
import jnr.ffi.Memory;
import jnr.ffi.Pointer;
import jnr.ffi.Runtime;
import jnr.ffi.byref.IntByReference;

import java.util.ArrayList;
import java.util.List;
import java.util.Optional;

/**
 * Checked wrappers over {@link LibC}: every call reads errno immediately and throws a
 * {@link NativeException} naming the syscall and the file or process it was applied to.
 */
public final class Native {
    private static final LibC LIBC = LibraryLoader.create(LibC.class).load("c");
    private static final Runtime RUNTIME = Runtime.getRuntime(LIBC);

    /** sizeof(struct flock) on x86_64: type(2) whence(2) pad(4) start(8) len(8) pid(4) pad(4). */
    static final int FLOCK_SIZE = 32;

    private Native() {
    }

    public static LibC libc() {
        return LIBC;
    }

    private static NativeException failure(String syscall, String subject) {
        int errno = LastError.getLastError(RUNTIME);
        return new NativeException(syscall, subject, errno, LIBC.strerror(errno));
    }

    /** A POSIX or OFD lock request or answer, as the kernel's struct flock carries it. */
    public record Flock(short type, long start, long len, int pid) {
        Pointer toMemory() {
            Pointer p = Memory.allocateDirect(RUNTIME, FLOCK_SIZE, true);
            p.putShort(0, type);
            p.putShort(2, (short) LibC.SEEK_SET);
            p.putLong(8, start);
            p.putLong(16, len);
            p.putInt(24, pid);
            return p;
        }

        static Flock fromMemory(Pointer p) {
            return new Flock(p.getShort(0), p.getLong(8), p.getLong(16), p.getInt(24));
        }
    }

    /**
     * fcntl with a struct flock (F_SETLK, F_SETLKW, F_GETLK and the OFD variants).
     *
     * @return the kernel's answer (meaningful for the GETLK commands), or null when a
     *     non-blocking set found the range taken (EAGAIN/EACCES).
     */
    public static Flock fcntlLock(int fd, int cmd, Flock request, String path) throws NativeException {
        Pointer mem = request.toMemory();
        while (true) {
            int rc = LIBC.fcntl(fd, cmd, mem);
            if (rc == 0) {
                return Flock.fromMemory(mem);
            }
            int errno = LastError.getLastError(RUNTIME);
            if (errno == LibC.EINTR) {
                continue;
            }
            if ((errno == LibC.EAGAIN || errno == LibC.EACCES)
                    && (cmd == LibC.F_SETLK || cmd == LibC.F_OFD_SETLK)) {
                return null;
            }
            throw new NativeException("fcntl", path + ", fd " + fd + ", cmd " + cmd, errno, LIBC.strerror(errno));
        }
    }

    /** flock(2); returns false when LOCK_NB was given and the lock is taken. */
    public static boolean flock(int fd, int operation, String path) throws NativeException {
        while (true) {
            if (LIBC.flock(fd, operation) == 0) {
                return true;
            }
            int errno = LastError.getLastError(RUNTIME);
            if (errno == LibC.EINTR) {
                continue;
            }
            if (errno == LibC.EAGAIN && (operation & LibC.LOCK_NB) != 0) {
                return false;
            }
            throw new NativeException("flock", path + ", fd " + fd, errno, LIBC.strerror(errno));
        }
    }

    /** The exact bytes of a {@link RawNames} path, NUL-terminated for C. */
    static byte[] cPath(String path) {
        byte[] bytes = RawNames.encode(path);
        return java.util.Arrays.copyOf(bytes, bytes.length + 1);
    }

    /** open(2) on the exact bytes of {@code path} (a {@link RawNames} string); errors show it escaped. */
    public static int open(String path, int flags, int mode) throws NativeException {
        int fd = LIBC.open(cPath(path), flags, mode);
        if (fd < 0) {
            throw failure("open", RawNames.display(path));
        }
        return fd;
    }

    /**
     * openat(2) of {@code path} (a {@link RawNames} string) under the directory open as {@code dirFd}, or of an
     * absolute {@code path} (then {@code dirFd} is ignored); {@code display} names the file in errors.
     */
    public static int openAt(int dirFd, String path, int flags, int mode, String display) throws NativeException {
        int fd = LIBC.openat(dirFd, cPath(path), flags, mode);
        if (fd < 0) {
            throw failure("open", RawNames.display(display));
        }
        return fd;
    }

    /** readlink(2): the link's target as a {@link RawNames} string, exactly its bytes. */
    public static String readlink(String path) throws NativeException {
        byte[] link = cPath(path);
        int size = 4096;
        while (true) {
            byte[] target = new byte[size];
            long n = LIBC.readlink(link, target, size);
            if (n < 0) {
                throw failure("readlink", RawNames.display(path));
            }
            if (n < size) {
                return RawNames.decode(target, 0, (int) n);
            }
            size *= 2; // a target of exactly `size` bytes may have been cut
        }
    }

    /** realpath(3): every link resolved, as a {@link RawNames} string. */
    public static String realpath(String path) throws NativeException {
        byte[] resolved = new byte[4096 + 1]; // PATH_MAX, and its NUL
        if (LIBC.realpath(cPath(path), resolved) == null) {
            throw failure("realpath", RawNames.display(path));
        }
        int length = 0;
        while (resolved[length] != 0) {
            length++;
        }
        return RawNames.decode(resolved, 0, length);
    }

    /** What lstat(2) tells of a file (struct stat of x86_64/aarch64 glibc, read by offset). */
    public record Stat(long dev, long inode, int mode, long nlink, int uid, int gid, long size, long mtimeNs) {
        public static final int S_IFMT = 0170000;
        public static final int S_IFDIR = 0040000;
        public static final int S_IFREG = 0100000;
        public static final int S_IFLNK = 0120000;

        public boolean isDirectory() {
            return (mode & S_IFMT) == S_IFDIR;
        }

        public boolean isRegularFile() {
            return (mode & S_IFMT) == S_IFREG;
        }

        public boolean isSymbolicLink() {
            return (mode & S_IFMT) == S_IFLNK;
        }
    }

    private static final boolean AARCH64 = "aarch64".equals(System.getProperty("os.arch"));

    /**
     * lstat(2) of the exact bytes of {@code path}: an O_PATH|O_NOFOLLOW descriptor (which needs
     * no permission on the file itself and does not follow a final symbolic link) and fstat.
     */
    public static Stat lstat(String path) throws NativeException {
        int fd = LIBC.open(cPath(path), LibC.O_PATH | LibC.O_NOFOLLOW | LibC.O_CLOEXEC, 0);
        if (fd < 0) {
            throw failure("lstat", RawNames.display(path));
        }
        try {
            Pointer st = Memory.allocateDirect(RUNTIME, 256, true);
            if (LIBC.fstat(fd, st) != 0) {
                throw failure("fstat", RawNames.display(path));
            }
            if (AARCH64) {
                return new Stat(st.getLong(0), st.getLong(8), st.getInt(16), st.getInt(20) & 0xffffffffL,
                        st.getInt(24), st.getInt(28), st.getLong(48), st.getLong(88) * 1_000_000_000L + st.getLong(96));
            }
            return new Stat(st.getLong(0), st.getLong(8), st.getInt(24), st.getLong(16), st.getInt(28), st.getInt(32),
                    st.getLong(48), st.getLong(88) * 1_000_000_000L + st.getLong(96));
        } finally {
            LIBC.close(fd);
        }
    }

    /** Whether lstat(2) finds {@code path}: false on ENOENT/ENOTDIR, the error otherwise. */
    public static java.util.Optional<Stat> lstatIfExists(String path) throws NativeException {
        try {
            return java.util.Optional.of(lstat(path));
        } catch (NativeException e) {
            if (e.errno() == ENOENT || e.errno() == ENOTDIR) {
                return java.util.Optional.empty();
            }
            throw e;
        }
    }

    private static final int ENOENT = 2;
    private static final int ENOTDIR = 20;

    /** st_dev and st_ino of an open file, as fstat(2) reports them. */
    public record FileId(long dev, long inode) {
    }

    /** fstat(2): st_dev at offset 0 and st_ino at 8 in struct stat on x86_64 and aarch64. */
    public static FileId fileId(int fd, String path) throws NativeException {
        Pointer stat = Memory.allocateDirect(RUNTIME, 256, true);
        if (LIBC.fstat(fd, stat) != 0) {
            throw failure("fstat", path + ", fd " + fd);
        }
        return new FileId(stat.getLong(0), stat.getLong(8));
    }

    /** An open file's size and permission bits (st_mode & 07777), read with one statx(2). */
    public record SizeAndMode(long size, int mode) {
    }

    private static final int AT_EMPTY_PATH = 0x1000;
    private static final int STATX_MODE = 0x2;
    private static final int STATX_SIZE = 0x200;
    private static final byte[] EMPTY_PATH = {0};

    /** statx(2) of {@code fd}: stx_mode (u16) at offset 28 and stx_size (u64) at 40, on every architecture. */
    public static SizeAndMode sizeAndMode(int fd, Pointer buffer, String path) throws NativeException {
        if (LIBC.statx(fd, EMPTY_PATH, AT_EMPTY_PATH, STATX_MODE | STATX_SIZE, buffer) != 0) {
            throw failure("statx", path + ", fd " + fd);
        }
        return new SizeAndMode(buffer.getLong(40), buffer.getShort(28) & 07777);
    }

    /** What a snapshot compares to see whether a file changed: size, mtime, ctime (ns since the epoch), inode, mode & 07777. */
    public record FileState(long size, long mtimeNanos, long ctimeNanos, long inode, int mode) {
    }

    private static final int AT_SYMLINK_NOFOLLOW = 0x100;
    private static final int STATX_BASIC_STATS = 0x7ff;

    /**
     * statx(2) of {@code path} (a {@link RawNames} string, not following a final link): stx_mode at 28, stx_ino at 40-8,
     * stx_size at 40, stx_ctime at 96 and stx_mtime at 112 (tv_sec s64, tv_nsec u32), on every architecture.
     */
    public static FileState fileState(String path, Pointer buffer) throws NativeException {
        return fileStateAt(LibC.AT_FDCWD, path, buffer, path);
    }

    /**
     * As {@link #fileState}, of {@code path} under the directory open as {@code dirFd} (the kernel does not walk the
     * directory's own path again), or of an absolute {@code path}; {@code display} names the file in errors.
     */
    public static FileState fileStateAt(int dirFd, String path, Pointer buffer, String display) throws NativeException {
        if (LIBC.statx(dirFd, cPath(path), AT_SYMLINK_NOFOLLOW, STATX_BASIC_STATS, buffer) != 0) {
            throw failure("statx", RawNames.display(display));
        }
        return new FileState(buffer.getLong(40), buffer.getLong(112) * 1_000_000_000L + (buffer.getInt(120) & 0xffffffffL),
                buffer.getLong(96) * 1_000_000_000L + (buffer.getInt(104) & 0xffffffffL), buffer.getLong(32),
                buffer.getShort(28) & 07777);
    }

    /** A buffer for {@link #sizeAndMode} and {@link #fileState} (struct statx is 256 bytes). */
    public static Pointer statxBuffer() {
        return allocate(256);
    }

    /** d_type values of getdents64(2). */
    public static final int DT_UNKNOWN = 0;
    public static final int DT_DIR = 4;
    public static final int DT_REG = 8;

    /** One directory entry: its name as a {@link RawNames} string and its d_type ({@link #DT_UNKNOWN} when the file system does not say). */
    public record DirectoryEntry(String name, int type) {
    }

    /** A buffer for {@link #readDirectory}. */
    public static Pointer directoryBuffer() {
        return allocate(DIRECTORY_BUFFER);
    }

    private static final int DIRECTORY_BUFFER = 32 << 10;

    /**
     * Every entry of the open directory {@code fd} but . and .., by getdents64(2): struct linux_dirent64 is
     * d_ino (8), d_off (8), d_reclen (u16), d_type (u8), then the NUL-terminated name.
     */
    public static List<DirectoryEntry> readDirectory(int fd, Pointer buffer, String path) throws NativeException {
        List<DirectoryEntry> entries = new ArrayList<>();
        while (true) {
            long n = LIBC.getdents64(fd, buffer, DIRECTORY_BUFFER);
            if (n < 0) {
                throw failure("getdents64", RawNames.display(path));
            }
            if (n == 0) {
                return entries;
            }
            // Only what this call returned: a small directory does not pay for the whole buffer.
            byte[] bytes = new byte[(int) n];
            buffer.get(0, bytes, 0, (int) n);
            for (int at = 0; at < n; ) {
                int length = buffer.getShort(at + 16) & 0xffff;
                int type = bytes[at + 18] & 0xff;
                int nameStart = at + 19;
                int nameEnd = nameStart;
                while (bytes[nameEnd] != 0) {
                    nameEnd++;
                }
                int nameLength = nameEnd - nameStart;
                boolean dots = (nameLength == 1 && bytes[nameStart] == '.')
                        || (nameLength == 2 && bytes[nameStart] == '.' && bytes[nameStart + 1] == '.');
                if (!dots) {
                    entries.add(new DirectoryEntry(RawNames.decode(bytes, nameStart, nameLength), type));
                }
                at += length;
            }
        }
    }

    public static void close(int fd) throws NativeException {
        if (LIBC.close(fd) != 0) {
            throw failure("close", "fd " + fd);
        }
    }

    /** A zeroed native buffer, e.g. for {@link #pread}. */
    public static Pointer allocate(int bytes) {
        return Memory.allocateDirect(RUNTIME, bytes, true);
    }

    /** pread(2), retried on EINTR; returns the bytes read. */
    public static int pread(int fd, Pointer buffer, int count, long offset, String path) throws NativeException {
        while (true) {
            long n = LIBC.pread(fd, buffer, count, offset);
            if (n >= 0) {
                return (int) n;
            }
            if (LastError.getLastError(RUNTIME) != LibC.EINTR) {
                throw failure("pread", path + ", fd " + fd);
            }
        }
    }

    /** One write(2) of all of {@code bytes}, as cgroup interface files want a value in one write. */
    public static void write(int fd, Pointer bytes, int count, String path) throws NativeException {
        while (true) {
            long n = LIBC.write(fd, bytes, count);
            if (n == count) {
                return;
            }
            if (n >= 0) {
                throw new NativeException("write", path + ", fd " + fd + " (short write: " + n + " of " + count + ")",
                        0, "short write");
            }
            if (LastError.getLastError(RUNTIME) != LibC.EINTR) {
                throw failure("write", path + ", fd " + fd);
            }
        }
    }

    /**
     * poll(2) for {@link LibC#POLLPRI} on one fd: waits until it is signalled or {@code timeoutMillis}
     * pass. An EINTR counts as a wake: the caller re-checks anyway.
     *
     * @return whether the fd was signalled
     */
    public static boolean pollPriority(int fd, int timeoutMillis, String path) throws NativeException {
        Pointer pollfd = allocate(8); // struct pollfd { int fd; short events; short revents; }
        pollfd.putInt(0, fd);
        pollfd.putShort(4, LibC.POLLPRI);
        int rc = LIBC.poll(pollfd, 1, timeoutMillis);
        if (rc < 0) {
            if (LastError.getLastError(RUNTIME) == LibC.EINTR) {
                return false;
            }
            throw failure("poll", path + ", fd " + fd);
        }
        return rc > 0;
    }

    public static void dup2(int oldfd, int newfd, String path) throws NativeException {
        if (LIBC.dup2(oldfd, newfd) < 0) {
            throw failure("dup2", path + ", fd " + oldfd + " -> " + newfd);
        }
    }

    public static void lseek(int fd, long offset, String path) throws NativeException {
        if (LIBC.lseek(fd, offset, LibC.SEEK_SET) < 0) {
            throw failure("lseek", path + ", fd " + fd);
        }
    }

    public static int getFdFlags(int fd) throws NativeException {
        int flags = LIBC.fcntl(fd, LibC.F_GETFD, 0);
        if (flags < 0) {
            throw failure("fcntl(F_GETFD)", "fd " + fd);
        }
        return flags;
    }

    public static void setCloseOnExec(int fd, boolean on) throws NativeException {
        int flags = getFdFlags(fd);
        int wanted = on ? (flags | LibC.FD_CLOEXEC) : (flags & ~LibC.FD_CLOEXEC);
        if (wanted != flags && LIBC.fcntl(fd, LibC.F_SETFD, wanted) < 0) {
            throw failure("fcntl(F_SETFD)", "fd " + fd);
        }
    }

    /**
     * An extended attribute of the path itself (lgetxattr); empty when the file has none by that
     * name or its file system has no extended attributes. Most files have none: one call, no buffer.
     */
    public static Optional<byte[]> xattr(String path, String name) throws NativeException {
        while (true) {
            long size = LIBC.lgetxattr(cPath(path), name, null, 0);
            if (size < 0) {
                return xattrAbsent(path, name);
            }
            Pointer buffer = Memory.allocateDirect(RUNTIME, Math.max(1, (int) size), false);
            long read = LIBC.lgetxattr(cPath(path), name, buffer, size);
            if (read < 0) {
                if (LastError.getLastError(RUNTIME) == LibC.ERANGE) {
                    continue; // it grew between the two calls
                }
                return xattrAbsent(path, name);
            }
            byte[] value = new byte[(int) read];
            buffer.get(0, value, 0, value.length);
            return Optional.of(value);
        }
    }

    private static Optional<byte[]> xattrAbsent(String path, String name) throws NativeException {
        int errno = LastError.getLastError(RUNTIME);
        if (errno == LibC.ENODATA || errno == LibC.EOPNOTSUPP) {
            return Optional.empty();
        }
        throw new NativeException("lgetxattr " + name, RawNames.display(path), errno, LIBC.strerror(errno));
    }

    public static void chdir(String path) throws NativeException {
        if (LIBC.chdir(cPath(path)) != 0) {
            throw failure("chdir", RawNames.display(path));
        }
    }

    /** Drops to uid/gid for good: supplementary groups cleared first, gid before uid. */
    public static void dropPrivileges(int uid, int gid) throws NativeException {
        if (LIBC.setgroups(0, null) != 0) {
            throw failure("setgroups", "uid " + uid);
        }
        if (LIBC.setgid(gid) != 0) {
            throw failure("setgid", "gid " + gid);
        }
        if (LIBC.setuid(uid) != 0) {
            throw failure("setuid", "uid " + uid);
        }
    }

    /**
     * kill(2); returns false when the process does not exist (ESRCH). A negative pid signals that
     * process group; 0 (the caller's own group) and -1 (every process) are refused: no caller means them.
     */
    public static boolean kill(int pid, int signal) throws NativeException {
        if (pid == 0 || pid == -1) {
            throw new IllegalArgumentException("kill(" + pid + ", " + signal + ") would signal "
                    + (pid == 0 ? "this agent's own process group" : "every process"));
        }
        if (LIBC.kill(pid, signal) == 0) {
            return true;
        }
        int errno = LastError.getLastError(RUNTIME);
        if (errno == LibC.ESRCH) {
            return false;
        }
        throw new NativeException("kill", "pid " + pid + ", signal " + signal, errno, LIBC.strerror(errno));
    }

    public static int getpid() {
        return LIBC.getpid();
    }

    public static int geteuid() {
        return LIBC.geteuid();
    }

    public static int getegid() {
        return LIBC.getegid();
    }

    /** The soft RLIMIT_NOFILE: every descriptor number this process can use is below it. */
    public static long openFileLimit() throws NativeException {
        Pointer rlim = Memory.allocateDirect(RUNTIME, 16, true);
        if (LIBC.getrlimit(LibC.RLIMIT_NOFILE, rlim) != 0) {
            throw failure("getrlimit", "RLIMIT_NOFILE");
        }
        return rlim.getLong(0);
    }

    /** A file handle from name_to_handle_at, or null when the file system does not support handles. */
    public record FileHandle(int type, byte[] bytes, int mountId) {
    }

    public static FileHandle nameToHandle(String path) throws NativeException {
        int maxBytes = 128; // MAX_HANDLE_SZ
        Pointer handle = Memory.allocateDirect(RUNTIME, 8 + maxBytes, true);
        handle.putInt(0, maxBytes);
        IntByReference mountId = new IntByReference();
        if (LIBC.name_to_handle_at(LibC.AT_FDCWD, cPath(path), handle, mountId, LibC.AT_SYMLINK_FOLLOW) != 0) {
            int errno = LastError.getLastError(RUNTIME);
            if (errno == LibC.EOPNOTSUPP) {
                return null;
            }
            throw new NativeException("name_to_handle_at", RawNames.display(path), errno, LIBC.strerror(errno));
        }
        int size = handle.getInt(0);
        int type = handle.getInt(4);
        byte[] bytes = new byte[size];
        handle.get(8, bytes, 0, size);
        return new FileHandle(type, bytes, mountId.intValue());
    }

    /** ioctl(FICLONE): {@code destFd} becomes a copy-on-write clone of {@code srcFd} (same file system). */
    public static void ficlone(int destFd, int srcFd, String subject) throws NativeException {
        if (LIBC.ioctl(destFd, LibC.FICLONE, (long) srcFd) != 0) {
            throw failure("ioctl(FICLONE)", subject);
        }
    }

    /** syncfs(2): writes back every dirty page of the file system {@code path} is on, in one call. */
    public static void syncfs(String path) throws NativeException {
        int fd = open(path, LibC.O_RDONLY | LibC.O_CLOEXEC, 0);
        try {
            if (LIBC.syncfs(fd) != 0) {
                throw failure("syncfs", path);
            }
        } finally {
            close(fd);
        }
    }

    /**
     * sendfile(2) from one regular file to another, in the kernel (no copy through Java): moves up to {@code count}
     * bytes from {@code inFd}'s file position to {@code outFd}'s, both advancing, retried on EINTR. Returns the bytes
     * moved, fewer than {@code count} only where {@code inFd} ends first.
     */
    public static long sendfile(int outFd, int inFd, long count, String subject) throws NativeException {
        long moved = 0;
        while (moved < count) {
            long n = LIBC.sendfile(outFd, inFd, null, count - moved);
            if (n > 0) {
                moved += n;
            } else if (n == 0) {
                return moved;
            } else if (LastError.getLastError(RUNTIME) != LibC.EINTR) {
                throw failure("sendfile", subject);
            }
        }
        return moved;
    }

    /** fallocate(2) punching a hole: the range's blocks are freed and read as zeros; the file keeps its size. */
    public static void punchHole(int fd, long offset, long length, String subject) throws NativeException {
        if (LIBC.fallocate(fd, LibC.FALLOC_FL_PUNCH_HOLE | LibC.FALLOC_FL_KEEP_SIZE, offset, length) != 0) {
            throw failure("fallocate(PUNCH_HOLE)", subject);
        }
    }

    public static void fsync(int fd, String path) throws NativeException {
        if (LIBC.fsync(fd) != 0) {
            throw failure("fsync", path + ", fd " + fd);
        }
    }

    /**
     * A read-only snapshot of the btrfs subvolume open as {@code subvolumeFd}, named {@code name} in the
     * directory open as {@code destDirFd} (struct btrfs_ioctl_vol_args_v2: fd at 0, flags at 16, name at 56).
     */
    public static void btrfsSnapshotReadOnly(int destDirFd, int subvolumeFd, String name, String subject)
            throws NativeException {
        Pointer args = Memory.allocateDirect(RUNTIME, 4096, true);
        args.putLong(0, subvolumeFd);
        args.putLong(16, LibC.BTRFS_SUBVOL_RDONLY);
        args.putString(56, name, 4039, java.nio.charset.StandardCharsets.UTF_8);
        if (LIBC.ioctl(destDirFd, LibC.BTRFS_IOC_SNAP_CREATE_V2, args) != 0) {
            throw failure("ioctl(BTRFS_IOC_SNAP_CREATE_V2)", subject);
        }
    }

    /** Deletes the subvolume {@code name} in the directory open as {@code dirFd} (struct btrfs_ioctl_vol_args). */
    public static void btrfsDestroySubvolume(int dirFd, String name, String subject) throws NativeException {
        Pointer args = Memory.allocateDirect(RUNTIME, 4096, true);
        args.putString(8, name, 4087, java.nio.charset.StandardCharsets.UTF_8);
        if (LIBC.ioctl(dirFd, LibC.BTRFS_IOC_SNAP_DESTROY, args) != 0) {
            throw failure("ioctl(BTRFS_IOC_SNAP_DESTROY)", subject);
        }
    }
}
