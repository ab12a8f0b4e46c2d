package io.lockstep.bench.freeze;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;

/**
 * The floor of a cgroup v2 freeze: one write to cgroup.freeze on an fd opened beforehand, then
 * re-reading cgroup.events through its open fd in a busy loop until it says {@code frozen 1}. No
 * allocation, no file opens, no sleeping: nothing can notice the kernel's answer sooner.
 */
public final class RawFreeze implements AutoCloseable {
    private static final byte[] FROZEN = "frozen ".getBytes(StandardCharsets.US_ASCII);

    private final FileChannel freeze;
    private final FileChannel events;
    private final ByteBuffer eventsBuffer = ByteBuffer.allocateDirect(256);
    private final ByteBuffer one = ByteBuffer.wrap("1".getBytes(StandardCharsets.US_ASCII));
    private final ByteBuffer zero = ByteBuffer.wrap("0".getBytes(StandardCharsets.US_ASCII));

    public RawFreeze(Path cgroup) throws IOException {
        this.freeze = FileChannel.open(cgroup.resolve("cgroup.freeze"), StandardOpenOption.WRITE);
        this.events = FileChannel.open(cgroup.resolve("cgroup.events"), StandardOpenOption.READ);
    }

    public void freeze() throws IOException {
        freeze.write(one.rewind(), 0);
        while (!frozenIs('1')) {
            Thread.onSpinWait();
        }
    }

    public void thaw() throws IOException {
        freeze.write(zero.rewind(), 0);
        while (!frozenIs('0')) {
            Thread.onSpinWait();
        }
    }

    /** Whether the "frozen " line of cgroup.events ends in {@code state}. */
    boolean frozenIs(char state) throws IOException {
        eventsBuffer.clear();
        int n = events.read(eventsBuffer, 0);
        search:
        for (int i = 0; i + FROZEN.length < n; i++) {
            for (int j = 0; j < FROZEN.length; j++) {
                if (eventsBuffer.get(i + j) != FROZEN[j]) {
                    continue search;
                }
            }
            return eventsBuffer.get(i + FROZEN.length) == state;
        }
        throw new IOException("cgroup.events has no 'frozen' line");
    }

    @Override
    public void close() throws IOException {
        try (freeze; events) {
            // both closed, the second even if the first fails
        }
    }
}
