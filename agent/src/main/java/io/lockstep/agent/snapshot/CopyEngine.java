package io.lockstep.agent.snapshot;

import java.io.BufferedWriter;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.io.UncheckedIOException;
import java.nio.channels.FileChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.StandardOpenOption;
import java.security.MessageDigest;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.HashSet;
import java.util.HexFormat;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Set;
import java.util.UUID;
import java.util.stream.Stream;
import io.lockstep.agent.nativeio.Native;

/**
 * Portable: copies the data path's files into a content-addressed store ({@code objects/<sha256>}) with an
 * index per snapshot ({@code index/<checkpoint>-<key>}). Only files changed since the data path's previous
 * snapshot (size, mtime, ctime or inode differ) are read; the others keep their recorded digest. A snapshot
 * that would copy more than the bound is refused before anything is written, so the window stays bounded.
 */
public final class CopyEngine implements SnapshotEngine {
    public static final String NAME = "copy";
    /** The store's directory of indexes, {@code <checkpoint>-<key>} each. */
    static final String INDEX_DIR = "index";
    private static final java.util.regex.Pattern OBJECT_NAME = java.util.regex.Pattern.compile("[0-9a-f]{64}");
    /** One store is used by one agent; this orders a deletion's clean-up against a snapshot's writes. */
    private static final Object STORE_LOCK = new Object();

    private final Path store;
    private final long maxBytes;

    public CopyEngine(Path store, long maxBytes) {
        this.store = store;
        this.maxBytes = maxBytes;
    }

    @Override
    public String name() {
        return NAME;
    }

    /** A file's state as the index keeps it. */
    private record Entry(String sha256, long size, long mtimeNanos, long ctimeNanos, long inode, int mode) {
        boolean sameFileAs(Entry other) {
            return size == other.size && mtimeNanos == other.mtimeNanos && ctimeNanos == other.ctimeNanos
                    && inode == other.inode;
        }
    }

    @Override
    public Snapshot take(String checkpointId, DataPath dataPath) throws SnapshotException {
        long started = System.nanoTime();
        synchronized (STORE_LOCK) {
            Path objects = store.resolve("objects");
            Path index = store.resolve(INDEX_DIR).resolve(checkpointId + "-" + dataPath.key());
            List<Path> written = new ArrayList<>();
            Path current = dataPath.path();
            try {
                Map<String, Path> present = DataFiles.regularFiles(dataPath.path());
                Map<String, Entry> previous = previousIndex(dataPath);
                Map<String, Entry> now = new LinkedHashMap<>();
                List<String> changed = new ArrayList<>();
                long changedBytes = 0;
                for (Map.Entry<String, Path> file : present.entrySet()) {
                    Entry stat = stat(file.getValue());
                    Entry before = previous.get(file.getKey());
                    if (before != null && before.sameFileAs(stat) && Files.exists(objects.resolve(before.sha256()))) {
                        now.put(file.getKey(), new Entry(before.sha256(), stat.size(), stat.mtimeNanos(),
                                stat.ctimeNanos(), stat.inode(), stat.mode()));
                    } else {
                        changed.add(file.getKey());
                        changedBytes += stat.size();
                        now.put(file.getKey(), stat);
                    }
                }
                long bound = dataPath.copyMaxBytes().orElse(maxBytes);
                if (changedBytes > bound) {
                    throw new SnapshotRefusedException("copy snapshot of " + dataPath.path() + " refused: "
                            + changedBytes + " bytes in " + changed.size() + " changed files exceed the bound of "
                            + bound + " bytes (data-path --copy-max-bytes); choose a reflink, btrfs or command engine");
                }
                Files.createDirectories(objects);
                Files.createDirectories(index.getParent());
                Map<String, Path> incoming = new LinkedHashMap<>();
                for (String relative : changed) {
                    current = present.get(relative);
                    Entry stat = now.get(relative);
                    Path temporary = objects.resolve("incoming-" + UUID.randomUUID());
                    written.add(temporary);
                    String sha256 = copyHashing(current, temporary);
                    if (incoming.putIfAbsent(sha256, temporary) != null) {
                        // Two changed files with the same content: one object.
                        Files.delete(temporary);
                        written.remove(temporary);
                    }
                    now.put(relative, new Entry(sha256, stat.size(), stat.mtimeNanos(), stat.ctimeNanos(), stat.inode(),
                            stat.mode()));
                }
                // One syncfs for all copies instead of an fsync per file; only then are they named by digest.
                current = store;
                Native.syncfs(store.toString());
                for (Map.Entry<String, Path> object : incoming.entrySet()) {
                    Path named = objects.resolve(object.getKey());
                    if (Files.exists(named)) {
                        Files.delete(object.getValue());
                    } else {
                        Files.move(object.getValue(), named, StandardCopyOption.ATOMIC_MOVE);
                        written.add(named);
                    }
                    written.remove(object.getValue());
                }
                current = index;
                writeIndex(index, dataPath.path(), now);
                written.add(index);
                List<SnapshotFile> files = new ArrayList<>();
                long bytes = 0;
                for (Map.Entry<String, Entry> e : now.entrySet()) {
                    files.add(new SnapshotFile(e.getKey(), e.getValue().size(), e.getValue().mode(),
                            Optional.of(e.getValue().sha256())));
                    bytes += e.getValue().size();
                }
                return new Snapshot(checkpointId, NAME, dataPath.path(), Files.isDirectory(dataPath.path()),
                        index.toString(), files, bytes, changedBytes, System.nanoTime() - started, Optional.empty());
            } catch (SnapshotException e) {
                throw e;
            } catch (IOException | UncheckedIOException e) {
                String cleanUp = removeAll(written);
                throw new SnapshotException("copy snapshot of " + dataPath.path() + " into " + store + " failed at "
                        + current + ": " + e.getMessage() + cleanUp, e);
            }
        }
    }

    private static Entry stat(Path file) throws IOException {
        Map<String, Object> a = Files.readAttributes(file, "unix:size,lastModifiedTime,ctime,ino,mode",
                LinkOption.NOFOLLOW_LINKS);
        return new Entry("", (Long) a.get("size"), nanos(a.get("lastModifiedTime")), nanos(a.get("ctime")),
                (Long) a.get("ino"), (Integer) a.get("mode") & 07777);
    }

    private static long nanos(Object fileTime) {
        java.time.Instant i = ((java.nio.file.attribute.FileTime) fileTime).toInstant();
        return i.getEpochSecond() * 1_000_000_000L + i.getNano();
    }

    /** Copies {@code source} into {@code temporary} (which must not exist), returning the sha256 of what it copied. */
    private static String copyHashing(Path source, Path temporary) throws IOException {
        MessageDigest digest = DataFiles.newSha256();
        byte[] buffer = new byte[1 << 20];
        try (InputStream in = Files.newInputStream(source, LinkOption.NOFOLLOW_LINKS);
             OutputStream out = Files.newOutputStream(temporary, StandardOpenOption.CREATE_NEW, StandardOpenOption.WRITE)) {
            for (int n; (n = in.read(buffer)) > 0; ) {
                digest.update(buffer, 0, n);
                out.write(buffer, 0, n);
            }
        }
        return HexFormat.of().formatHex(digest.digest());
    }

    private static void writeIndex(Path index, Path dataPath, Map<String, Entry> entries) throws IOException {
        Path temporary = index.resolveSibling(index.getFileName() + ".incoming");
        try (BufferedWriter w = Files.newBufferedWriter(temporary, StandardCharsets.UTF_8)) {
            w.write("data-path\t" + dataPath + "\n");
            for (Map.Entry<String, Entry> e : entries.entrySet()) {
                Entry v = e.getValue();
                w.write(v.sha256() + "\t" + v.size() + "\t" + v.mtimeNanos() + "\t" + v.ctimeNanos() + "\t" + v.inode()
                        + "\t" + v.mode() + "\t" + e.getKey() + "\n");
            }
        }
        try (FileChannel channel = FileChannel.open(temporary, StandardOpenOption.WRITE)) {
            channel.force(true);
        }
        Files.move(temporary, index, StandardCopyOption.ATOMIC_MOVE);
    }

    private record Index(Path dataPath, Map<String, Entry> entries) {
    }

    private static Index readIndex(Path index) throws IOException {
        List<String> lines = Files.readAllLines(index, StandardCharsets.UTF_8);
        if (lines.isEmpty() || !lines.get(0).startsWith("data-path\t")) {
            throw new IOException("snapshot index " + index + " has no data-path header");
        }
        Map<String, Entry> entries = new LinkedHashMap<>();
        for (String line : lines.subList(1, lines.size())) {
            String[] f = line.split("\t", 7);
            entries.put(f[6], new Entry(f[0], Long.parseLong(f[1]), Long.parseLong(f[2]), Long.parseLong(f[3]),
                    Long.parseLong(f[4]), Integer.parseInt(f[5])));
        }
        return new Index(Path.of(lines.get(0).substring("data-path\t".length())), entries);
    }

    /** The newest index of the same data path, by modification time; empty when there is none. */
    private Map<String, Entry> previousIndex(DataPath dataPath) throws IOException {
        Path indexes = store.resolve(INDEX_DIR);
        if (!Files.isDirectory(indexes)) {
            return Map.of();
        }
        String key = "-" + dataPath.key();
        Path newest = null;
        try (Stream<Path> list = Files.list(indexes)) {
            for (Path p : (Iterable<Path>) list::iterator) {
                if (p.getFileName().toString().endsWith(key) && (newest == null
                        || Files.getLastModifiedTime(p).compareTo(Files.getLastModifiedTime(newest)) > 0)) {
                    newest = p;
                }
            }
        }
        if (newest == null) {
            return Map.of();
        }
        Index index = readIndex(newest);
        return index.dataPath().equals(dataPath.path()) ? index.entries() : Map.of();
    }

    @Override
    public RollBackReport rollBack(Snapshot snapshot) throws SnapshotException {
        Path objects = store.resolve("objects");
        Map<String, StagedRollBack.Source> wanted = new LinkedHashMap<>();
        for (SnapshotFile file : snapshot.files()) {
            Path object = objects.resolve(file.sha256().orElseThrow());
            wanted.put(file.relativePath(), new StagedRollBack.Source(object, false, file.sha256(), file.size(), file.mode()));
        }
        return StagedRollBack.apply(snapshot.checkpointId(), snapshot.dataPath(), snapshot.directory(), wanted);
    }

    /**
     * Removes the snapshot's index, then every object no remaining index refers to: content another checkpoint
     * shares stays; an object left by an earlier deletion that failed half-way goes now.
     */
    @Override
    public void delete(Snapshot snapshot) throws SnapshotException {
        synchronized (STORE_LOCK) {
            Path current = Path.of(snapshot.location());
            try {
                Files.deleteIfExists(current);
                Set<String> referenced = new HashSet<>();
                Path indexes = store.resolve(INDEX_DIR);
                if (Files.isDirectory(indexes)) {
                    try (Stream<Path> list = Files.list(indexes)) {
                        for (Path p : (Iterable<Path>) list::iterator) {
                            current = p;
                            // An index still being written (.incoming) names only objects of a snapshot in progress,
                            // and no snapshot is in progress while this holds the store's lock.
                            if (!p.getFileName().toString().endsWith(".incoming")) {
                                readIndex(p).entries().values().forEach(e -> referenced.add(e.sha256()));
                            }
                        }
                    }
                }
                Path objects = store.resolve("objects");
                if (Files.isDirectory(objects)) {
                    try (Stream<Path> list = Files.list(objects)) {
                        for (Path object : (Iterable<Path>) list::iterator) {
                            String name = object.getFileName().toString();
                            if (OBJECT_NAME.matcher(name).matches() && !referenced.contains(name)) {
                                current = object;
                                Files.deleteIfExists(object);
                            }
                        }
                    }
                }
            } catch (IOException | RuntimeException e) {
                throw new SnapshotException("deleting the copy snapshot " + snapshot.location() + " of checkpoint "
                        + snapshot.checkpointId() + " failed at " + current + ": " + e.getMessage(), e);
            }
        }
    }

    private static String removeAll(List<Path> written) {
        List<String> left = new ArrayList<>();
        for (Path p : written) {
            try {
                Files.deleteIfExists(p);
            } catch (IOException e) {
                left.add(p.toString());
            }
        }
        return left.isEmpty() ? "" : " (left in the store: " + String.join(", ", left) + ")";
    }
}
