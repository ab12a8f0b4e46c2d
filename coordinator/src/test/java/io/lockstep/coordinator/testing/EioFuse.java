package io.lockstep.coordinator.testing;

import jnr.ffi.LibraryLoader;
import jnr.ffi.Memory;
import jnr.ffi.Pointer;
import jnr.ffi.Runtime;
import jnr.ffi.annotations.SaveError;

import java.io.IOException;
import java.nio.file.Path;
import java.time.Duration;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * A FUSE file system served by a thread of this JVM that answers the kernel's INIT and then every
 * request with EIO: whatever is done on it fails with a real "Input/output error", as on a disk
 * or network file system that has gone bad. Mounted with mount(2) on an fd of /dev/fuse that this
 * JVM holds, so no FUSE library is needed. {@link #close} unmounts, which ends the connection
 * and the thread.
 */
public final class EioFuse implements AutoCloseable {
    /** The C calls this needs, as in C. */
    @SaveError
    public interface Sys {
        int open(String path, int flags, int mode);

        long read(int fd, Pointer buf, long count);

        long write(int fd, Pointer buf, long count);

        int close(int fd);

        int mount(String source, String target, String type, long flags, String data);

        int umount2(String target, int flags);

        String strerror(int errno);
    }

    private static final Sys SYS = LibraryLoader.create(Sys.class).load("c");
    private static final Runtime RUNTIME = Runtime.getRuntime(SYS);
    private static final int O_RDWR = 2;
    private static final int MNT_DETACH = 2;
    private static final int EIO = 5;
    private static final int FUSE_INIT = 26;
    private static final int FUSE_FORGET = 2;
    private static final int FUSE_BATCH_FORGET = 42;
    private static final int IN_HEADER = 40;
    private static final int OUT_HEADER = 16;
    private static final int INIT_OUT = 64;
    /** The kernel refuses reads into buffers smaller than a request can be (max_write plus headers). */
    private static final int BUFFER = 1 << 20;
    /** Bounds the serving loop; a test makes a few dozen requests. */
    private static final int MAX_REQUESTS = 1_000_000;

    private final Path mount;
    private final int fd;
    private final Thread server;

    private EioFuse(Path mount, int fd) {
        this.mount = mount;
        this.fd = fd;
        this.server = new Thread(this::serve, "eio-fuse " + mount);
        this.server.setDaemon(true);
    }

    public static EioFuse mount(Path dir) throws IOException {
        int fd = SYS.open("/dev/fuse", O_RDWR, 0);
        if (fd < 0) {
            throw new IOException("open /dev/fuse: " + lastError());
        }
        if (SYS.mount("lockstep-eio", dir.toString(), "fuse", 0,
                "fd=" + fd + ",rootmode=40000,user_id=0,group_id=0") != 0) {
            String error = lastError();
            SYS.close(fd);
            throw new IOException("mount fuse at " + dir + ": " + error);
        }
        // Only now: a read of /dev/fuse before the mount fails (EPERM) and would end the server,
        // leaving every request on the mount unanswered. The kernel queues INIT until it is read.
        EioFuse fuse = new EioFuse(dir, fd);
        fuse.server.start();
        return fuse;
    }

    private void serve() {
        Pointer in = Memory.allocateDirect(RUNTIME, BUFFER);
        Pointer out = Memory.allocateDirect(RUNTIME, OUT_HEADER + INIT_OUT, true);
        for (int i = 0; i < MAX_REQUESTS; i++) {
            long n = SYS.read(fd, in, BUFFER);
            if (n < 0) {
                int errno = jnr.ffi.LastError.getLastError(RUNTIME);
                if (errno == 4 || errno == 2) { // EINTR, or ENOENT: a request interrupted before it was read
                    continue;
                }
                return; // ENODEV: unmounted, the connection is gone
            }
            int opcode = in.getInt(4);
            long unique = in.getLong(8);
            if (opcode == FUSE_FORGET || opcode == FUSE_BATCH_FORGET) {
                continue; // the kernel expects no answer
            }
            int length = OUT_HEADER;
            out.putInt(4, -EIO);
            if (opcode == FUSE_INIT) {
                length += INIT_OUT;
                out.putInt(4, 0);
                out.putInt(OUT_HEADER, 7);                       // major
                out.putInt(OUT_HEADER + 4, 31);                  // minor
                out.putInt(OUT_HEADER + 8, in.getInt(IN_HEADER + 8)); // max_readahead as asked
                out.putInt(OUT_HEADER + 20, 4096);               // max_write
                out.putInt(OUT_HEADER + 24, 1);                  // time_gran
            }
            out.putInt(0, length);
            out.putLong(8, unique);
            SYS.write(fd, out, length);
        }
    }

    private static String lastError() {
        int errno = jnr.ffi.LastError.getLastError(RUNTIME);
        return SYS.strerror(errno) + " (errno " + errno + ")";
    }

    @Override
    public void close() throws InterruptedException {
        SYS.umount2(mount.toString(), MNT_DETACH);
        server.join(Duration.ofSeconds(20).toMillis());
        SYS.close(fd);
        assertThat(server.isAlive()).as("the FUSE server thread of %s ended with its unmount", mount).isFalse();
    }
}
