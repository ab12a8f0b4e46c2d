package io.lockstep.coordinator.store;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.DirectoryStream;
import java.nio.file.FileAlreadyExistsException;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;

import io.lockstep.files.PrivateFiles;
import io.lockstep.zk.ZkLayout;

/**
 * The checkpoint store in a directory ({@code file:}): local, or a shared file system that every
 * coordinator mounts. Writes are durable before they are visible (temp file, fsync, hard link to
 * the final name, fsync of the directory): the link fails if the name exists, so nothing is ever
 * overwritten, and a manifest is complete or absent, never half-written. Directories are created
 * 0700 and files 0600: a manifest holds the recorded environments.
 */
public final class FileCheckpointStore implements CheckpointStore {
    private final Path root;

    public FileCheckpointStore(Path root) {
        this.root = root.toAbsolutePath().normalize();
    }

    public Path root() {
        return root;
    }

    @Override
    public String uri() {
        return root.toUri().toString();
    }

    @Override
    public String manifestUri(String group, String checkpointId, String hostId) {
        return manifestPath(group, checkpointId, hostId).toUri().toString();
    }

    public Path checkpointDir(String group, String checkpointId) {
        return root.resolve(ZkLayout.checkName("group", group)).resolve(ZkLayout.checkName("checkpoint", checkpointId));
    }

    public Path manifestPath(String group, String checkpointId, String hostId) {
        return checkpointDir(group, checkpointId).resolve(ZkLayout.checkName("host", hostId) + MANIFEST_SUFFIX);
    }

    @Override
    public StoredManifest write(String group, String checkpointId, String hostId, byte[] framed) throws IOException {
        Path dir = checkpointDir(group, checkpointId);
        Path target = manifestPath(group, checkpointId, hostId);
        Path temp = dir.resolve("." + hostId + MANIFEST_SUFFIX + ".tmp");
        boolean newGroup = !Files.isDirectory(dir.getParent());
        try {
            PrivateFiles.createDirectories(dir);
            writeDurably(temp, framed);
            publish(temp, target);
        } catch (FileAlreadyExistsException e) {
            throw new FileAlreadyExistsException(target.toString(), null, "refusing to overwrite manifest " + target
                    + " of checkpoint " + checkpointId + " of group " + group + ": a store never overwrites (checkpoint ids"
                    + " are unique, so something other than this operation put that name there)");
        } catch (IOException e) {
            throw new IOException("cannot write manifest of host " + hostId + " to " + temp + ": " + e.getMessage(), e);
        }
        fsyncDirectory(dir);
        fsyncDirectory(dir.getParent());
        if (newGroup) {
            // The group directory's own entry lives in the root: without this a crash can lose the group.
            fsyncDirectory(root);
        }
        return new StoredManifest(hostId, target.toUri().toString(), framed.length, CheckpointStore.sha256Hex(framed));
    }

    @Override
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
        return Verify.manifest(path.toString(), data, expectedSha256, expectedSize);
    }

    @Override
    public boolean exists(String group, String checkpointId, String hostId, long expectedSize) throws IOException {
        Path path = manifestPath(group, checkpointId, hostId);
        return Files.isRegularFile(path) && Files.size(path) == expectedSize;
    }

    @Override
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

    @Override
    public List<String> checkpointIds(String group) throws IOException {
        Path groupDir = root.resolve(ZkLayout.checkName("group", group));
        List<String> names = new ArrayList<>();
        if (!Files.isDirectory(groupDir)) {
            return names;
        }
        try (DirectoryStream<Path> entries = Files.newDirectoryStream(groupDir, Files::isDirectory)) {
            for (Path entry : entries) {
                names.add(entry.getFileName().toString());
            }
        }
        names.sort(String::compareTo);
        return names;
    }

    @Override
    public Optional<String> storeId() throws IOException {
        try {
            return Optional.of(Files.readString(root.resolve(STORE_ID_NAME), StandardCharsets.UTF_8).strip());
        } catch (NoSuchFileException none) {
            return Optional.empty();
        }
    }

    @Override
    public String claimStoreId(String candidate) throws IOException {
        Path target = root.resolve(STORE_ID_NAME);
        Path temp = root.resolve(STORE_ID_NAME + "." + candidate + ".tmp");
        try {
            PrivateFiles.createDirectories(root);
            writeDurably(temp, (candidate + "\n").getBytes(StandardCharsets.UTF_8));
            publish(temp, target);
            fsyncDirectory(root);
        } catch (FileAlreadyExistsException claimedFirst) {
            // Another coordinator named the store first: its id is the one.
        } catch (IOException e) {
            throw new IOException("cannot write the store id to " + target + ": " + e.getMessage(), e);
        }
        return storeId().orElseThrow(() -> new IOException("the store id " + target + " vanished after it was written"));
    }

    private static void writeDurably(Path temp, byte[] bytes) throws IOException {
        try (FileChannel out = PrivateFiles.createForWrite(temp)) {
            ByteBuffer buffer = ByteBuffer.wrap(bytes);
            while (buffer.hasRemaining()) {
                out.write(buffer);
            }
            out.force(true);
        } catch (IOException e) {
            try {
                Files.deleteIfExists(temp);
            } catch (IOException cleanup) {
                // A store that fails writes may fail the clean-up too; the write's error is the one to report.
                e.addSuppressed(cleanup);
            }
            throw e;
        }
    }

    /** Link, not rename: a rename would silently replace an existing file. */
    private static void publish(Path temp, Path target) throws IOException {
        try {
            Files.createLink(target, temp);
        } catch (FileAlreadyExistsException e) {
            throw new FileAlreadyExistsException(target.toString(), null, "exists already; a store never overwrites");
        } finally {
            Files.deleteIfExists(temp);
        }
    }

    private static void fsyncDirectory(Path dir) throws IOException {
        try (FileChannel channel = FileChannel.open(dir, StandardOpenOption.READ)) {
            channel.force(true);
        }
    }
}
