package io.lockstep.agent.cgroup;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.Set;
import java.util.TreeSet;

/** Reads and writes of cgroup interface files, with errors that name the file. */
final class CgroupFiles {
    private CgroupFiles() {
    }

    static void write(Path file, String value) throws IOException {
        // One write(2) per value: cgroup files take one value per write. A bare channel, not
        // Files.writeString: the freeze request is on the freeze latency's path.
        try (FileChannel channel = FileChannel.open(file, StandardOpenOption.WRITE)) {
            ByteBuffer bytes = ByteBuffer.wrap(value.getBytes(StandardCharsets.US_ASCII));
            if (channel.write(bytes) != bytes.capacity()) {
                throw new IOException("short write");
            }
        } catch (IOException e) {
            throw new IOException("cannot write '" + value + "' to " + file + ": " + e.getMessage(), e);
        }
    }

    static String read(Path file) throws IOException {
        try {
            return Files.readString(file).trim();
        } catch (IOException e) {
            throw new IOException("cannot read " + file + ": " + e.getMessage(), e);
        }
    }

    /** The ids in cgroup.procs / cgroup.threads / tasks; empty when the cgroup does not exist. */
    static Set<Integer> ids(Path file) throws IOException {
        Set<Integer> ids = new TreeSet<>();
        String text;
        try {
            text = Files.readString(file);
        } catch (NoSuchFileException e) {
            return ids;
        } catch (IOException e) {
            throw new IOException("cannot read " + file + ": " + e.getMessage(), e);
        }
        for (String line : text.split("\n")) {
            if (!line.isBlank()) {
                int id = Integer.parseInt(line.trim());
                // The kernel lists a task that is exiting (its pid already released) as 0. Signalled,
                // kill(0, …) hits the caller's own process group: the agent's, or a whole test run
                // (the soak runs "killed from outside" were this, seen in the kernel's signal trace).
                if (id > 0) {
                    ids.add(id);
                }
            }
        }
        return ids;
    }

    /** The number of ids in cgroup.procs / cgroup.threads, counted without parsing or sorting them. */
    static int count(Path file) throws IOException {
        try (FileChannel channel = FileChannel.open(file, StandardOpenOption.READ)) {
            ByteBuffer buffer = ByteBuffer.allocate(16 * 1024);
            int lines = 0;
            while (channel.read(buffer.clear()) > 0) {
                buffer.flip();
                while (buffer.hasRemaining()) {
                    if (buffer.get() == '\n') {
                        lines++;
                    }
                }
            }
            return lines;
        } catch (IOException e) {
            throw new IOException("cannot read " + file + ": " + e.getMessage(), e);
        }
    }

    /** Quotes a string for /bin/sh. */
    static String shellQuote(String s) {
        return "'" + s.replace("'", "'\\''") + "'";
    }
}
