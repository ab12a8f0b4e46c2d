package io.lockstep.bench.snapshot;

import java.io.IOException;
import java.io.RandomAccessFile;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.stream.Stream;

/** A file system on a loop device (sparse image under /var/tmp, on the machine's disk) for one case. */
final class BenchFileSystem implements AutoCloseable {
    private final Path dir;
    private final Path mountPoint;
    private String loopDevice;

    private BenchFileSystem(Path dir) {
        this.dir = dir;
        this.mountPoint = dir.resolve("mnt");
    }

    static BenchFileSystem make(long megabytes, String... mkfs) throws IOException {
        BenchFileSystem fs = new BenchFileSystem(Files.createTempDirectory(Path.of("/var/tmp"), "lockstep-bench-snap"));
        try {
            Path image = fs.dir.resolve("fs.img");
            try (RandomAccessFile file = new RandomAccessFile(image.toFile(), "rw")) {
                file.setLength(megabytes << 20);
            }
            List<String> command = new ArrayList<>(List.of(mkfs));
            command.add(image.toString());
            run(command.toArray(String[]::new));
            fs.loopDevice = run("losetup", "--find", "--show", image.toString()).strip();
            Files.createDirectory(fs.mountPoint);
            run("mount", fs.loopDevice, fs.mountPoint.toString());
            return fs;
        } catch (IOException | RuntimeException e) {
            fs.close();
            throw e;
        }
    }

    Path root() {
        return mountPoint;
    }

    /** A directory on the machine's own disk, beside the image, removed with it. */
    Path diskDirectory(String name) throws IOException {
        return Files.createDirectories(dir.resolve(name));
    }

    static String run(String... command) throws IOException {
        Process process = new ProcessBuilder(command).redirectErrorStream(true).start();
        String output = new String(process.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        try {
            if (process.waitFor() != 0) {
                throw new IOException(String.join(" ", command) + " exited with " + process.exitValue() + ": " + output);
            }
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IOException(String.join(" ", command) + " interrupted", e);
        }
        return output;
    }

    @Override
    public void close() throws IOException {
        if (Files.isDirectory(mountPoint)) {
            try {
                run("umount", mountPoint.toString());
            } catch (IOException e) {
                run("umount", "-l", mountPoint.toString());
            }
        }
        if (loopDevice != null) {
            run("losetup", "-d", loopDevice);
        }
        try (Stream<Path> paths = Files.walk(dir)) {
            for (Path p : (Iterable<Path>) paths.sorted(Comparator.reverseOrder())::iterator) {
                Files.deleteIfExists(p);
            }
        }
    }
}
