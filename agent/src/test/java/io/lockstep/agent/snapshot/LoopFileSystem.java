package io.lockstep.agent.snapshot;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;

/**
 * A real file system made for one test: an image file, a loop device, a mount. {@link #close} unmounts,
 * detaches and deletes, also after a failure half-way through {@link #xfsReflink}/{@link #btrfs}/{@link #tmpfs}.
 */
final class LoopFileSystem implements AutoCloseable {
    private final Path dir;
    private final Path mountPoint;
    private String loopDevice;
    private boolean mounted;

    private LoopFileSystem(Path dir) {
        this.dir = dir;
        this.mountPoint = dir.resolve("mnt");
    }

    static LoopFileSystem xfsReflink(long megabytes) throws IOException {
        return onLoop(megabytes, "mkfs.xfs", "-q", "-m", "reflink=1");
    }

    static LoopFileSystem btrfs(long megabytes) throws IOException {
        return onLoop(megabytes, "mkfs.btrfs", "-q");
    }

    static LoopFileSystem tmpfs(long megabytes) throws IOException {
        LoopFileSystem fs = new LoopFileSystem(Files.createTempDirectory("lockstep-snapfs"));
        try {
            Files.createDirectory(fs.mountPoint);
            run("mount", "-t", "tmpfs", "-o", "size=" + megabytes + "m", "tmpfs", fs.mountPoint.toString());
            fs.mounted = true;
            return fs;
        } catch (IOException | RuntimeException e) {
            fs.close();
            throw e;
        }
    }

    private static LoopFileSystem onLoop(long megabytes, String... mkfs) throws IOException {
        LoopFileSystem fs = new LoopFileSystem(Files.createTempDirectory("lockstep-snapfs"));
        try {
            Path image = fs.dir.resolve("fs.img");
            try (var file = new java.io.RandomAccessFile(image.toFile(), "rw")) {
                file.setLength(megabytes << 20);
            }
            List<String> command = new ArrayList<>(List.of(mkfs));
            command.add(image.toString());
            run(command.toArray(String[]::new));
            fs.loopDevice = run("losetup", "--find", "--show", image.toString()).strip();
            Files.createDirectory(fs.mountPoint);
            run("mount", fs.loopDevice, fs.mountPoint.toString());
            fs.mounted = true;
            return fs;
        } catch (IOException | RuntimeException e) {
            fs.close();
            throw e;
        }
    }

    Path root() {
        return mountPoint;
    }

    static String run(String... command) throws IOException {
        Process process = new ProcessBuilder(command).redirectErrorStream(true).start();
        String output = new String(process.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        try {
            if (!process.waitFor(60, TimeUnit.SECONDS)) {
                process.destroyForcibly();
                throw new IOException(String.join(" ", command) + " did not finish in 60 s");
            }
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IOException(String.join(" ", command) + " interrupted", e);
        }
        if (process.exitValue() != 0) {
            throw new IOException(String.join(" ", command) + " exited with " + process.exitValue() + ": " + output);
        }
        return output;
    }

    @Override
    public void close() throws IOException {
        IOException failure = null;
        if (mounted) {
            try {
                run("umount", mountPoint.toString());
                mounted = false;
            } catch (IOException e) {
                failure = e;
                run("umount", "-l", mountPoint.toString());
                mounted = false;
            }
        }
        if (loopDevice != null) {
            run("losetup", "-d", loopDevice);
            loopDevice = null;
        }
        DataFiles.deleteTree(dir);
        if (failure != null) {
            throw failure;
        }
    }
}
