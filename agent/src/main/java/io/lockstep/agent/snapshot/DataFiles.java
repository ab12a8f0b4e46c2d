package io.lockstep.agent.snapshot;

import io.lockstep.agent.nativeio.LibC;
import io.lockstep.agent.nativeio.Native;
import io.lockstep.names.RawNames;
import java.io.IOException;
import java.io.InputStream;
import java.io.UncheckedIOException;
import java.nio.file.FileVisitResult;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.Path;
import java.nio.file.SimpleFileVisitor;
import java.nio.file.attribute.BasicFileAttributes;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.ArrayList;
import java.util.Collections;
import java.util.HexFormat;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.TreeMap;
import jnr.ffi.Pointer;

/** The regular files of a data path, the file system it is on, and content digests. */
public final class DataFiles {
    /** Where reflink and btrfs snapshots live, at the root of the file system (or subvolume) they copy. */
    public static final String SNAPSHOT_DIR = ".lockstep-snapshots";
    /** Prefix of a roll-back's staged copies, next to the file each replaces. */
    static final String STAGING_PREFIX = ".lockstep-rollback.";

    private DataFiles() {
    }

    /**
     * Every regular file under {@code dataPath} by its path relative to it ("" when the data path is a
     * file), skipping snapshot directories and staged copies. Symbolic links are not followed.
     */
    public static Map<String, Path> regularFiles(Path dataPath) throws IOException {
        Map<String, Path> files = new TreeMap<>();
        if (Files.isRegularFile(dataPath, LinkOption.NOFOLLOW_LINKS)) {
            files.put("", dataPath);
            return files;
        }
        if (!Files.isDirectory(dataPath, LinkOption.NOFOLLOW_LINKS)) {
            throw new SnapshotException("data path " + dataPath + " is neither a regular file nor a directory");
        }
        Files.walkFileTree(dataPath, new SimpleFileVisitor<>() {
            @Override
            public FileVisitResult preVisitDirectory(Path dir, BasicFileAttributes attrs) {
                return dir.getFileName() != null && dir.getFileName().toString().equals(SNAPSHOT_DIR)
                        ? FileVisitResult.SKIP_SUBTREE : FileVisitResult.CONTINUE;
            }

            @Override
            public FileVisitResult visitFile(Path file, BasicFileAttributes attrs) {
                if (attrs.isRegularFile() && !file.getFileName().toString().startsWith(STAGING_PREFIX)) {
                    files.put(dataPath.relativize(file).toString(), file);
                }
                return FileVisitResult.CONTINUE;
            }
        });
        return files;
    }

    /**
     * The relative paths of {@link #regularFiles}, sorted the same way, read inside the window at the cost of one
     * getdents64 per directory: no stat per file where the file system reports each entry's type (XFS, btrfs,
     * ext4, NFS do). Empty when a name is not valid in the JVM's charset: the caller then uses {@link #regularFiles}.
     */
    static Optional<List<String>> regularFileNames(Path dataPath) throws IOException {
        if (Files.isRegularFile(dataPath, LinkOption.NOFOLLOW_LINKS)) {
            return Optional.of(List.of(""));
        }
        if (!Files.isDirectory(dataPath, LinkOption.NOFOLLOW_LINKS)) {
            throw new SnapshotException("data path " + dataPath + " is neither a regular file nor a directory");
        }
        List<String> names = new ArrayList<>();
        Pointer buffer = Native.directoryBuffer();
        if (!listInto(dataPath.toString(), "", buffer, names)) {
            return Optional.empty();
        }
        Collections.sort(names);
        return Optional.of(names);
    }

    private static boolean listInto(String directory, String prefix, Pointer buffer, List<String> names)
            throws IOException {
        int fd = Native.open(directory, LibC.O_RDONLY
                | LibC.O_DIRECTORY | LibC.O_CLOEXEC
                | LibC.O_NOFOLLOW, 0);
        List<Native.DirectoryEntry> entries;
        try {
            entries = Native.readDirectory(fd, buffer, directory);
        } finally {
            Native.close(fd);
        }
        for (Native.DirectoryEntry entry : entries) {
            if (RawNames.hasEscapes(entry.name())) {
                return false;
            }
            String path = directory + "/" + entry.name();
            int type = entry.type();
            if (type == Native.DT_UNKNOWN) {
                BasicFileAttributes attributes = Files.readAttributes(Path.of(path), BasicFileAttributes.class,
                        LinkOption.NOFOLLOW_LINKS);
                type = attributes.isDirectory() ? Native.DT_DIR
                        : attributes.isRegularFile() ? Native.DT_REG : -1;
            }
            if (type == Native.DT_DIR) {
                if (!entry.name().equals(SNAPSHOT_DIR) && !listInto(path, prefix + entry.name() + "/", buffer, names)) {
                    return false;
                }
            } else if (type == Native.DT_REG && !entry.name().startsWith(STAGING_PREFIX)) {
                names.add(prefix + entry.name());
            }
        }
        return true;
    }

    /**
     * The top of the file system {@code path} is on: the highest ancestor with the same st_dev. On btrfs
     * each subvolume has its own st_dev, so this is the subvolume's root there.
     */
    public static Path fileSystemRoot(Path path) throws IOException {
        Path current = path.toAbsolutePath().normalize();
        Object dev = Files.getAttribute(current, "unix:dev", LinkOption.NOFOLLOW_LINKS);
        while (current.getParent() != null
                && dev.equals(Files.getAttribute(current.getParent(), "unix:dev", LinkOption.NOFOLLOW_LINKS))) {
            current = current.getParent();
        }
        return current;
    }

    /** {@link #fileSystemRoot} of a data path, where the engine keeps its snapshots; a failure fails the snapshot. */
    static Path snapshotFileSystemRoot(String engine, Path dataPath) throws SnapshotException {
        try {
            return fileSystemRoot(dataPath);
        } catch (IOException e) {
            throw new SnapshotException(engine + " snapshot of " + dataPath + ": " + e.getMessage(), e);
        }
    }

    public static int mode(Path file) throws IOException {
        return (Integer) Files.getAttribute(file, "unix:mode", LinkOption.NOFOLLOW_LINKS) & 07777;
    }

    public static String sha256(Path file) throws IOException {
        MessageDigest digest = newSha256();
        byte[] buffer = new byte[1 << 16];
        try (InputStream in = Files.newInputStream(file, LinkOption.NOFOLLOW_LINKS)) {
            for (int n; (n = in.read(buffer)) > 0; ) {
                digest.update(buffer, 0, n);
            }
        }
        return HexFormat.of().formatHex(digest.digest());
    }

    static MessageDigest newSha256() {
        try {
            return MessageDigest.getInstance("SHA-256");
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException("the JDK has no SHA-256", e);
        }
    }

    /** Deletes a directory tree (not following links); missing is fine. */
    static void deleteTree(Path root) throws IOException {
        if (!Files.exists(root, LinkOption.NOFOLLOW_LINKS)) {
            return;
        }
        try (var paths = Files.walk(root)) {
            paths.sorted(java.util.Comparator.reverseOrder()).forEach(p -> {
                try {
                    Files.deleteIfExists(p);
                } catch (IOException e) {
                    throw new UncheckedIOException(e);
                }
            });
        } catch (UncheckedIOException e) {
            throw e.getCause();
        }
    }
}
