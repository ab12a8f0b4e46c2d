package io.lockstep.agent.proc;

import io.lockstep.names.RawNames;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.file.Path;

/**
 * Reads small /proc files whole through one reused buffer. A capture reads thousands of them, and
 * {@code Files.readString} sizes its buffer from st_size, which is 0 in /proc, so it grew and
 * copied a fresh buffer for every file. Names are bytes: the text is a {@link RawNames} string, exact for bytes that are not UTF-8. One instance per
 * thread.
 */
public final class ProcFileReader {
    private ByteBuffer buffer = ByteBuffer.allocate(16 * 1024);

    /** The whole file as text; NoSuchFileException when it does not exist (a task gone meanwhile). */
    public String read(Path file) throws IOException {
        buffer.clear();
        try (FileChannel in = FileChannel.open(file)) {
            while (in.read(buffer) >= 0) {
                if (!buffer.hasRemaining()) {
                    ByteBuffer larger = ByteBuffer.allocate(buffer.capacity() * 2);
                    larger.put(buffer.flip());
                    buffer = larger;
                }
            }
        }
        return RawNames.decode(buffer.array(), 0, buffer.position());
    }
}
