package io.lockstep.agent.cgroup;

import io.lockstep.agent.nativeio.LibC;
import io.lockstep.agent.nativeio.Native;
import java.io.IOException;
import java.io.InterruptedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import jnr.ffi.Pointer;

/**
 * A cgroup v2 cgroup.events file held open for one wait. Re-reading it through the open fd costs
 * one pread (no open, no allocation), and kernfs signals POLLPRI on the fd whenever the kernel
 * changes the file — e.g. when the cgroup becomes frozen — and re-arms on every read, so a change
 * between our read and our poll is never missed.
 */
final class CgroupEvents implements AutoCloseable {
    private static final byte[] FROZEN = "frozen ".getBytes(StandardCharsets.US_ASCII);
    private static final int BUFFER = 256;
    /** Longest single poll: a wake to re-check the deadline and interruption even if no event comes. */
    private static final int MAX_POLL_MILLIS = 100;

    private final Path path;
    private final int fd;
    private final Pointer buffer = Native.allocate(BUFFER);
    private final byte[] bytes = new byte[BUFFER];

    private CgroupEvents(Path path, int fd) {
        this.path = path;
        this.fd = fd;
    }

    static CgroupEvents open(Path path) throws IOException {
        return new CgroupEvents(path, Native.open(path.toString(), LibC.O_RDONLY | LibC.O_CLOEXEC, 0));
    }

    /** The "frozen" line, read now. */
    boolean frozen() throws IOException {
        int n = Native.pread(fd, buffer, BUFFER, 0, path.toString());
        buffer.get(0, bytes, 0, n);
        search:
        for (int i = 0; i + FROZEN.length < n; i++) {
            for (int j = 0; j < FROZEN.length; j++) {
                if (bytes[i + j] != FROZEN[j]) {
                    continue search;
                }
            }
            return bytes[i + FROZEN.length] == '1';
        }
        throw new IOException(path + " has no 'frozen' line: this kernel's cgroup v2 cannot freeze");
    }

    /** Sleeps until the kernel changes the file since our last read, or {@code nanos} pass. */
    void awaitChange(long nanos) throws IOException {
        int millis = (int) Math.max(1, Math.min(MAX_POLL_MILLIS, (nanos + 999_999) / 1_000_000));
        Native.pollPriority(fd, millis, path.toString());
        if (Thread.interrupted()) {
            Thread.currentThread().interrupt();
            throw new InterruptedIOException("interrupted while waiting for " + path);
        }
    }

    @Override
    public void close() throws IOException {
        Native.close(fd);
    }
}
