package io.lockstep.bench.capture;

import java.io.FileInputStream;
import java.io.IOException;
import java.io.InputStream;
import java.nio.file.DirectoryStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.BasicFileAttributes;
import java.util.List;

/**
 * The least work a capture of these processes must do, in one pass: /proc/locks and, once, the
 * mountinfo of the first process (the bench's processes share one mount namespace); per process
 * status, comm, cmdline, the cwd link, the task and fd listings; per fd its link, fdinfo and one
 * stat(2); per thread its syscall file. Files are drained into a reused buffer, nothing is parsed.
 */
final class ProcessReadFloor {
    private final byte[] buffer = new byte[1 << 16];

    /** Returns the bytes read, so the work cannot be optimised away. */
    long readAll(List<Integer> pids) throws IOException {
        long bytes = drain(Path.of("/proc/locks"));
        if (!pids.isEmpty()) {
            bytes += drain(Path.of("/proc", Integer.toString(pids.get(0)), "mountinfo"));
        }
        for (int pid : pids) {
            Path dir = Path.of("/proc", Integer.toString(pid));
            bytes += drain(dir.resolve("status")) + drain(dir.resolve("comm")) + drain(dir.resolve("cmdline"));
            bytes += Files.readSymbolicLink(dir.resolve("cwd")).toString().length();
            try (DirectoryStream<Path> fds = Files.newDirectoryStream(dir.resolve("fd"))) {
                for (Path fd : fds) {
                    bytes += Files.readSymbolicLink(fd).toString().length();
                    bytes += drain(dir.resolve("fdinfo").resolve(fd.getFileName()));
                    bytes += Files.readAttributes(fd, BasicFileAttributes.class).size();
                }
            }
            try (DirectoryStream<Path> tasks = Files.newDirectoryStream(dir.resolve("task"))) {
                for (Path task : tasks) {
                    bytes += drain(task.resolve("syscall"));
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
