package io.lockstep.agent.snapshot;

import java.io.IOException;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.TreeSet;

/**
 * Puts a data path back in two steps so that a failure leaves it as it was: first every file is staged
 * as a copy next to the file it replaces (and fsynced, and its digest checked), then the copies are
 * renamed over the current files and the files created since the checkpoint are removed.
 */
final class StagedRollBack {
    /**
     * Where a file's checkpoint content comes from: a file of the snapshot, cloned (same file system) or
     * copied, with its sha256 when the checkpoint recorded one.
     */
    record Source(Path from, boolean byCloning, Optional<String> sha256, long size, int mode, long offset) {
        /** The whole of {@code from}, cloned or copied. */
        Source(Path from, boolean byCloning, Optional<String> sha256, long size, int mode) {
            this(from, byCloning, sha256, size, mode, -1);
        }

        /** A file put back by cloning {@code from}, a file of a btrfs or reflink snapshot. */
        static Source cloneOf(Path from, long size, int mode) {
            return new Source(from, true, Optional.empty(), size, mode);
        }

        /** A file put back by copying {@code size} bytes at {@code offset} of a copy snapshot's pack. */
        static Source regionOf(Path pack, long offset, Optional<String> sha256, long size, int mode) {
            return new Source(pack, false, sha256, size, mode, offset);
        }

        void writeTo(Path staged) throws IOException {
            if (byCloning) {
                Clones.cloneFile(from, staged);
            } else if (offset < 0) {
                Files.copy(from, staged);
            } else {
                try (FileChannel in = FileChannel.open(from, StandardOpenOption.READ);
                     FileChannel out = FileChannel.open(staged, StandardOpenOption.CREATE_NEW, StandardOpenOption.WRITE)) {
                    long copied = 0;
                    while (copied < size) {
                        long n = in.transferTo(offset + copied, size - copied, out);
                        if (n <= 0) {
                            throw new IOException("pack " + from + " ends at " + (offset + copied) + ", before the "
                                    + size + " bytes at offset " + offset + " were read");
                        }
                        copied += n;
                    }
                }
            }
        }
    }

    private StagedRollBack() {
    }

    static RollBackReport apply(String checkpointId, Path dataPath, boolean directory, Map<String, Source> wanted)
            throws SnapshotException {
        List<Path> createdDirectories = new ArrayList<>();
        Map<Path, Path> stagedToTarget = new LinkedHashMap<>();
        Map<String, String> digests = new LinkedHashMap<>();
        List<String> removed = new ArrayList<>();
        String current = "";
        try {
            for (Map.Entry<String, Source> entry : wanted.entrySet()) {
                current = entry.getKey();
                Path target = entry.getKey().isEmpty() ? dataPath : dataPath.resolve(entry.getKey());
                Optional<String> unchanged = unchanged(target, entry.getValue());
                if (unchanged.isPresent()) {
                    // Left alone, inode and all: a process outside the group may have it open.
                    digests.put(entry.getKey(), unchanged.get());
                    continue;
                }
                createParents(target.getParent(), createdDirectories);
                Path staged = target.resolveSibling(DataFiles.STAGING_PREFIX + target.getFileName() + "." + checkpointId);
                Files.deleteIfExists(staged);
                stagedToTarget.put(staged, target);
                entry.getValue().writeTo(staged);
                Files.setPosixFilePermissions(staged, Modes.toPermissions(entry.getValue().mode()));
                try (FileChannel channel = FileChannel.open(staged, StandardOpenOption.WRITE)) {
                    channel.force(true);
                }
                String sha256 = DataFiles.sha256(staged);
                Optional<String> expected = entry.getValue().sha256();
                if (expected.isPresent() && !expected.get().equals(sha256)) {
                    throw new SnapshotException("the snapshot's copy has sha256 " + sha256 + ", the checkpoint recorded "
                            + expected.get());
                }
                digests.put(entry.getKey(), sha256);
            }
            current = "";
            if (directory) {
                for (String present : DataFiles.regularFiles(dataPath).keySet()) {
                    if (!wanted.containsKey(present)) {
                        removed.add(present);
                    }
                }
            }
        } catch (IOException | RuntimeException e) {
            String cleanUp = discard(stagedToTarget.keySet(), createdDirectories);
            throw new RollBackException("roll-back of " + dataPath + " to checkpoint " + checkpointId + " failed"
                    + (current.isEmpty() ? "" : " at " + dataPath.resolve(current)) + ": " + e.getMessage()
                    + "; the current files are untouched" + cleanUp, e);
        }
        try {
            for (Map.Entry<Path, Path> move : stagedToTarget.entrySet()) {
                current = move.getValue().toString();
                Files.move(move.getKey(), move.getValue(), StandardCopyOption.ATOMIC_MOVE,
                        StandardCopyOption.REPLACE_EXISTING);
            }
            for (String extra : removed) {
                current = dataPath.resolve(extra).toString();
                Files.deleteIfExists(dataPath.resolve(extra));
            }
            syncDirectories(stagedToTarget.values());
        } catch (IOException e) {
            throw new SnapshotException("roll-back of " + dataPath + " to checkpoint " + checkpointId
                    + " failed while replacing " + current + ": " + e.getMessage()
                    + " (the files before it in path order are back at the checkpoint's content)", e);
        }
        return new RollBackReport(dataPath, digests, removed);
    }

    /** The file's sha256 when it already has the checkpoint's content (then it is not replaced). */
    private static Optional<String> unchanged(Path target, Source source) throws IOException {
        if (!Files.isRegularFile(target, LinkOption.NOFOLLOW_LINKS) || Files.size(target) != source.size()) {
            return Optional.empty();
        }
        String now = DataFiles.sha256(target);
        String checkpointed = source.sha256().isPresent() ? source.sha256().get() : DataFiles.sha256(source.from());
        return now.equals(checkpointed) ? Optional.of(now) : Optional.empty();
    }

    private static void createParents(Path dir, List<Path> created) throws IOException {
        List<Path> missing = new ArrayList<>();
        for (Path p = dir; p != null && !Files.exists(p, LinkOption.NOFOLLOW_LINKS); p = p.getParent()) {
            missing.add(0, p);
        }
        for (Path p : missing) {
            Files.createDirectory(p);
            created.add(p);
        }
    }

    private static String discard(Iterable<Path> staged, List<Path> createdDirectories) {
        List<String> left = new ArrayList<>();
        for (Path p : staged) {
            try {
                Files.deleteIfExists(p);
            } catch (IOException e) {
                left.add(p.toString());
            }
        }
        for (int i = createdDirectories.size() - 1; i >= 0; i--) {
            try {
                Files.deleteIfExists(createdDirectories.get(i));
            } catch (IOException e) {
                left.add(createdDirectories.get(i).toString());
            }
        }
        return left.isEmpty() ? "" : " (staged copies left behind: " + String.join(", ", left) + ")";
    }

    /** fsync the directories whose entries changed, so the renames survive a crash. */
    private static void syncDirectories(Iterable<Path> targets) throws IOException {
        TreeSet<Path> dirs = new TreeSet<>();
        targets.forEach(t -> dirs.add(t.getParent()));
        for (Path dir : dirs) {
            try (FileChannel channel = FileChannel.open(dir, StandardOpenOption.READ)) {
                channel.force(true);
            }
        }
    }
}
