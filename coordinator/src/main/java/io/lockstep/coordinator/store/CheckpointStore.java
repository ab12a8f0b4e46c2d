package io.lockstep.coordinator.store;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.file.AtomicMoveNotSupportedException;
import java.nio.file.DirectoryStream;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.StandardOpenOption;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.HexFormat;

import io.lockstep.files.PrivateFiles;
import io.lockstep.zk.ZkLayout;

/**
 * The checkpoint store: {@code <dir>/<group>/<id>/<host>.manifest}. Writes are durable before they
 * are visible (temp file, fsync, rename, fsync of the directory), so a manifest that a catalog
 * entry points to is complete or absent, never half-written. Directories are created 0700 and
 * manifests 0600.
 */
public final class CheckpointStore {
    private static final String SUFFIX = ".manifest";
    private final Path root;

    public CheckpointStore(Path root) {
        this.root = root.toAbsolutePath().normalize();
    }

    public Path root() {
        return root;
    }

    /** What was stored: where, its size and its sha256 (hex). */
    public record StoredManifest(String hostId, Path path, long size, String sha256) {
        public String uri() {
            return path.toUri().toString();
        }
    }

    public Path checkpointDir(String group, String checkpointId) {
        return root.resolve(ZkLayout.checkName("group", group)).resolve(ZkLayout.checkName("checkpoint", checkpointId));
    }

    public Path manifestPath(String group, String checkpointId, String hostId) {
        return checkpointDir(group, checkpointId).resolve(ZkLayout.checkName("host", hostId) + SUFFIX);
    }

    /** Writes the framed manifest bytes durably and returns their digest. */
    public StoredManifest write(String group, String checkpointId, String hostId, byte[] framed) throws IOException {
        Path dir = checkpointDir(group, checkpointId);
        Path target = manifestPath(group, checkpointId, hostId);
        Path temp = dir.resolve("." + hostId + SUFFIX + ".tmp");
        try {
            // Owner-only: a manifest holds the recorded environments.
            PrivateFiles.createDirectories(dir);
            try (FileChannel out = PrivateFiles.createForWrite(temp)) {
                ByteBuffer buffer = ByteBuffer.wrap(framed);
                while (buffer.hasRemaining()) {
                    out.write(buffer);
                }
                out.force(true);
            }
        } catch (IOException e) {
            IOException failure = new IOException("cannot write manifest of host " + hostId + " to " + temp + ": "
                    + e.getMessage(), e);
            try {
                Files.deleteIfExists(temp);
            } catch (IOException cleanup) {
                // A store that fails writes may fail the clean-up too; the write's error is the one to report.
                failure.addSuppressed(cleanup);
            }
            throw failure;
        }
        try {
            Files.move(temp, target, StandardCopyOption.ATOMIC_MOVE, StandardCopyOption.REPLACE_EXISTING);
        } catch (AtomicMoveNotSupportedException e) {
            Files.deleteIfExists(temp);
            throw new IOException("store " + root + " does not support atomic rename", e);
        }
        fsyncDirectory(dir);
        fsyncDirectory(dir.getParent());
        return new StoredManifest(hostId, target, framed.length, sha256Hex(framed));
    }

    /**
     * Reads a manifest and checks it against the digest the catalog recorded.
     *
     * @throws StoreCorruptionException when the file is missing, or its size or digest differ
     */
    public byte[] readVerified(String group, String checkpointId, String hostId, String expectedSha256, long expectedSize)
            throws IOException {
        Path path = manifestPath(group, checkpointId, hostId);
        byte[] data;
        try {
            data = Files.readAllBytes(path);
        } catch (NoSuchFileException e) {
            throw new StoreCorruptionException("manifest of host " + hostId + " for checkpoint " + checkpointId
                    + " is missing from the store: " + path);
        }
        if (data.length != expectedSize) {
            throw new StoreCorruptionException("manifest " + path + " has " + data.length + " bytes, the catalog recorded "
                    + expectedSize);
        }
        String actual = sha256Hex(data);
        if (!actual.equals(expectedSha256)) {
            throw new StoreCorruptionException("manifest " + path + " has sha256 " + actual + ", the catalog recorded "
                    + expectedSha256);
        }
        return data;
    }

    /** Removes a checkpoint's directory (aborted leftovers, retention). Missing is fine. */
    public void delete(String group, String checkpointId) throws IOException {
        Path dir = checkpointDir(group, checkpointId);
        if (!Files.isDirectory(dir)) {
            return;
        }
        try (DirectoryStream<Path> files = Files.newDirectoryStream(dir)) {
            for (Path file : files) {
                Files.deleteIfExists(file);
            }
        }
        Files.deleteIfExists(dir);
        fsyncDirectory(dir.getParent());
    }

    public static String sha256Hex(byte[] data) {
        try {
            return HexFormat.of().formatHex(MessageDigest.getInstance("SHA-256").digest(data));
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException("the JVM lacks SHA-256", e);
        }
    }

    private static void fsyncDirectory(Path dir) throws IOException {
        try (FileChannel channel = FileChannel.open(dir, StandardOpenOption.READ)) {
            channel.force(true);
        }
    }
}
