package io.lockstep.agent.nativeio;

import jnr.ffi.Pointer;
import jnr.ffi.annotations.SaveError;
import jnr.ffi.byref.IntByReference;

/**
 * The C library calls Java lacks, named and typed as in C. Use through {@link Native}, which
 * reads errno right after each call and names the syscall and the path in its exception.
 */
@SaveError
public interface LibC {
    // fcntl commands (x86_64 / generic Linux values).
    int F_GETFD = 1;
    int F_SETFD = 2;
    int F_GETLK = 5;
    int F_SETLK = 6;
    int F_SETLKW = 7;
    int F_OFD_GETLK = 36;
    int F_OFD_SETLK = 37;
    int F_OFD_SETLKW = 38;
    int FD_CLOEXEC = 1;

    short F_RDLCK = 0;
    short F_WRLCK = 1;
    short F_UNLCK = 2;

    int LOCK_SH = 1;
    int LOCK_EX = 2;
    int LOCK_NB = 4;
    int LOCK_UN = 8;

    int O_RDONLY = 0;
    int O_WRONLY = 01;
    int O_RDWR = 02;
    int O_ACCMODE = 03;
    int O_CREAT = 0100;
    int O_EXCL = 0200;
    int O_NOCTTY = 0400;
    int O_TRUNC = 01000;
    int O_APPEND = 02000;
    int O_NONBLOCK = 04000;
    int O_DIRECTORY = 0200000;
    int O_NOFOLLOW = 0400000;
    int O_CLOEXEC = 02000000;
    int O_PATH = 010000000;

    int SEEK_SET = 0;
    int AT_FDCWD = -100;
    int AT_SYMLINK_FOLLOW = 0x400;

    int EINTR = 4;
    int EAGAIN = 11;
    int EACCES = 13;
    int EDEADLK = 35;
    int EOVERFLOW = 75;
    int EOPNOTSUPP = 95;
    int EEXIST = 17;
    int ENODATA = 61;
    int ERANGE = 34;
    int ESRCH = 3;
    int EBADF = 9;

    int RLIMIT_NOFILE = 7;

    /** ioctl(dest, FICLONE, src): share src's extents (a reflink); _IOW(0x94, 9, int). */
    long FICLONE = 0x40049409L;
    /** btrfs: snapshot a subvolume; _IOW(0x94, 23, struct btrfs_ioctl_vol_args_v2), 4096 bytes. */
    long BTRFS_IOC_SNAP_CREATE_V2 = 0x50009417L;
    /** btrfs: delete a subvolume by name in a directory; _IOW(0x94, 15, struct btrfs_ioctl_vol_args). */
    long BTRFS_IOC_SNAP_DESTROY = 0x5000940fL;
    long BTRFS_SUBVOL_RDONLY = 1L << 1;
    int EXDEV = 18;
    int ENOSPC = 28;
    int EINVAL = 22;
    int ENOTTY = 25;
    /** fallocate(2) mode: free the range's blocks (reads give zeros), the file's size unchanged. */
    int FALLOC_FL_KEEP_SIZE = 0x01;
    int FALLOC_FL_PUNCH_HOLE = 0x02;

    /** poll(2) event: an "exceptional condition", which is how kernfs (cgroup) files signal a change. */
    short POLLPRI = 0x002;

    int fcntl(int fd, int cmd, Pointer flock);

    int fcntl(int fd, int cmd, int arg);

    int flock(int fd, int operation);

    /** Paths are NUL-terminated bytes ({@link Native} encodes them): never through the JVM's charset. */
    int open(byte[] path, int flags, int mode);

    int openat(int dirfd, byte[] path, int flags, int mode);

    long readlink(byte[] path, byte[] buf, long size);

    Pointer realpath(byte[] path, byte[] resolved);

    int fstat(int fd, Pointer stat);

    /** statx(2): its struct has one layout on every architecture, unlike struct stat. */
    int statx(int dirfd, byte[] path, int flags, int mask, Pointer statx);

    /** getdents64(2) (glibc 2.30+): the directory's entries with their d_type, no stat per entry. */
    long getdents64(int fd, Pointer buffer, long count);

    int close(int fd);

    long pread(int fd, Pointer buf, long count, long offset);

    long write(int fd, Pointer buf, long count);

    int poll(Pointer fds, long nfds, int timeout);

    int dup2(int oldfd, int newfd);

    long lseek(int fd, long offset, int whence);

    int chdir(byte[] path);

    int setgid(int gid);

    int setuid(int uid);

    int setgroups(long size, Pointer list);

    /** Reads an extended attribute of the path itself (not a symlink's target). */
    long lgetxattr(byte[] path, String name, Pointer value, long size);

    int kill(int pid, int sig);

    int getpid();

    int geteuid();

    int getegid();

    int getrlimit(int resource, Pointer rlim);

        int name_to_handle_at(int dirfd, byte[] pathname, Pointer handle, IntByReference mountId, int flags);

    int ioctl(int fd, long request, long arg);

    int ioctl(int fd, long request, Pointer arg);

    int fsync(int fd);

    /** sendfile(2); a null {@code offset} reads from, and advances, {@code inFd}'s file position. */
    long sendfile(int outFd, int inFd, Pointer offset, long count);

    int fallocate(int fd, int mode, long offset, long len);

    int syncfs(int fd);

    String strerror(int errnum);
}
