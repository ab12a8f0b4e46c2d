package io.lockstep.coordinator.testing;

import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStreamReader;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * Real mounts a fault test needs — a tiny tmpfs that fills up, a FUSE file system whose daemon
 * never answers — all undone by {@link #close}, also after a failed test.
 */
public final class TestMounts implements AutoCloseable {
    private final List<Path> mounts = new ArrayList<>();
    private final List<Process> fuseDaemons = new ArrayList<>();

    /** A tmpfs of {@code bytes} at {@code dir}, already full: the next write there fails with ENOSPC. */
    public Path fullTmpfs(Path dir, int bytes) throws IOException, InterruptedException {
        Files.createDirectories(dir);
        run("mount", "-t", "tmpfs", "-o", "size=" + bytes, "lockstep-full", dir.toString());
        mounts.add(dir);
        Path filler = dir.resolve(".filler");
        byte[] page = new byte[4096];
        // Bounded: the tmpfs holds bytes / 4096 pages, so ENOSPC comes within that many writes.
        for (int i = 0; i <= bytes / page.length; i++) {
            try {
                Files.write(filler, page, java.nio.file.StandardOpenOption.CREATE, java.nio.file.StandardOpenOption.APPEND);
            } catch (IOException full) {
                assertThat(full.getMessage()).as("the tmpfs is full").contains("No space left on device");
                return dir;
            }
        }
        throw new AssertionError("a tmpfs of " + bytes + " bytes at " + dir + " did not fill up");
    }

    /**
     * A FUSE file system at {@code dir} whose daemon never answers (a shell holds /dev/fuse open
     * and sleeps): any access blocks in the kernel in state D, as with a hung FUSE or NFS server.
     * {@link #close} ends the daemon, which fails every pending request, then unmounts.
     */
    public Path unansweredFuse(Path dir) throws IOException {
        Files.createDirectories(dir);
        Process daemon = new ProcessBuilder("/bin/sh", "-c", "exec 3<>/dev/fuse && mount -t fuse -o "
                + "fd=3,rootmode=40000,user_id=0,group_id=0 lockstep-test \"$0\" && echo mounted && exec sleep 3600",
                dir.toString()).redirectErrorStream(true).start();
        fuseDaemons.add(daemon);
        String answer = new BufferedReader(new InputStreamReader(daemon.getInputStream(), StandardCharsets.UTF_8)).readLine();
        assertThat(answer).as("FUSE mount at %s", dir).isEqualTo("mounted");
        mounts.add(dir);
        return dir;
    }

    private static void run(String... command) throws IOException, InterruptedException {
        Process process = new ProcessBuilder(command).redirectErrorStream(true).start();
        String output = new String(process.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        assertThat(process.waitFor(30, TimeUnit.SECONDS)).as("%s finishes", List.of(command)).isTrue();
        assertThat(process.exitValue()).as("%s: %s", List.of(command), output).isZero();
    }

    @Override
    public void close() throws IOException, InterruptedException {
        for (Process daemon : fuseDaemons) {
            daemon.destroyForcibly();
            daemon.waitFor();
        }
        for (Path mount : mounts) {
            // Lazy: a process may still be leaving the file system; the mount point must go now.
            run("umount", "-l", mount.toString());
        }
        mounts.clear();
        fuseDaemons.clear();
    }
}
