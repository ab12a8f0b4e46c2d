package io.lockstep.bench.capture;

import java.io.FileInputStream;
import java.io.IOException;
import java.io.InputStream;
import java.nio.file.DirectoryStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;

/**
 * The least work any capture of these processes' locks must do: read /proc/locks once and every
 * fdinfo file of every process once, into a reused buffer, parsing nothing. This is mostly the
 * kernel formatting the lock lines.
 */
final class CaptureFloor {
    private final byte[] buffer = new byte[1 << 20];

    /** Returns the bytes read, so the work cannot be optimised away. */
    long readAll(List<Integer> pids) throws IOException {
        long bytes = drain(Path.of("/proc/locks"));
        for (int pid : pids) {
            try (DirectoryStream<Path> fdinfos = Files.newDirectoryStream(Path.of("/proc", Integer.toString(pid), "fdinfo"))) {
                for (Path fdinfo : fdinfos) {
                    bytes += drain(fdinfo);
                }
            }
        }
        return bytes;
    }

    private long drain(Path file) throws IOException {
        long total = 0;
        try (InputStream in = new FileInputStream(file.toFile())) {
            int n;
            while ((n = in.read(buffer)) > 0) {
                total += n;
            }
        }
        return total;
    }
}
