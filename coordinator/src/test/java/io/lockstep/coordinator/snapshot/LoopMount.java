package io.lockstep.coordinator.snapshot;

import java.io.IOException;
import java.io.RandomAccessFile;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

/** A file system made on a loop device for one test; {@link #close} unmounts, detaches, deletes the image. */
final class LoopMount implements AutoCloseable {
    private final Path image;
    private final Path mountPoint;
    private String device;
    private boolean mounted;

    private LoopMount(Path image, Path mountPoint) {
        this.image = image;
        this.mountPoint = mountPoint;
    }

    static LoopMount make(Path image, Path mountPoint, String... mkfs) throws IOException {
        return make(image, mountPoint, null, mkfs);
    }

    /**
     * As {@link #make}, mounted from a device node named {@code <names>/<server>:/export}, so that mountinfo
     * shows the source {@code server:/export} as an NFS mount's (this kernel has no NFS client): an agent that
     * counts the file system type as a network file system takes it for a shared export.
     */
    static LoopMount makeAsExport(Path image, Path mountPoint, Path names, String server, String... mkfs)
            throws IOException {
        return make(image, mountPoint, new String[] {names.toString(), server}, mkfs);
    }

    private static LoopMount make(Path image, Path mountPoint, String[] export, String... mkfs) throws IOException {
        LoopMount mount = new LoopMount(image, mountPoint);
        try {
            try (RandomAccessFile file = new RandomAccessFile(image.toFile(), "rw")) {
                file.setLength(300L << 20);
            }
            List<String> command = new ArrayList<>(List.of(mkfs));
            command.add(image.toString());
            run(command.toArray(String[]::new));
            mount.device = run("losetup", "--find", "--show", image.toString()).strip();
            if (export == null) {
                run("mount", mount.device, mountPoint.toString());
            } else {
                Path node = Files.createDirectories(Path.of(export[0], export[1] + ":")).resolve("export");
                String[] majorMinor = run("stat", "-c", "%t %T", mount.device).strip().split(" ");
                run("mknod", node.toString(), "b", Integer.toString(Integer.parseInt(majorMinor[0], 16)),
                        Integer.toString(Integer.parseInt(majorMinor[1], 16)));
                run("/bin/sh", "-c", "cd '" + export[0] + "' && mount --no-canonicalize -t " + mkfs[0].substring("mkfs.".length()) + " '" + export[1] + ":/export' '"
                        + mountPoint + "'");
            }
            mount.mounted = true;
            return mount;
        } catch (IOException | RuntimeException e) {
            mount.close();
            throw e;
        }
    }

    private static String run(String... command) throws IOException {
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
        if (mounted) {
            try {
                run("umount", mountPoint.toString());
            } catch (IOException busy) {
                run("umount", "-l", mountPoint.toString());
            }
            mounted = false;
        }
        if (device != null) {
            run("losetup", "-d", device);
            device = null;
        }
        Files.deleteIfExists(image);
    }
}
