package io.lockstep.agent.snapshot;

import java.io.BufferedWriter;
import java.io.IOException;
import java.io.InputStream;
import java.io.UncheckedIOException;
import java.nio.ByteBuffer;
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
import java.util.stream.Stream;
import io.lockstep.agent.nativeio.Native;
import jnr.ffi.Pointer;

/**
 * Portable: copies the data path's changed files into one pack file per snapshot ({@code packs/<checkpoint>-<key>},
 * the blobs one after the other) with an index per snapshot ({@code index/<checkpoint>-<key>}: each file's sha256,
 * and the pack and offset of its content). Content stays addressed by sha256: only files changed since the data
 * path's previous snapshot (size, mtime, ctime or inode differ) are read, the others keep their recorded blob, and a
 * changed file whose content an earlier index or this pack holds already is not kept twice. One file written per
 * snapshot instead of one per file, and its durability ({@link #makeDurable}: one fsync of the pack and of the
 * index) after the thaw: the window pays reading, hashing and writing into the page cache. A snapshot that would
 * copy more than the bound is refused before anything is written, so the window stays bounded. Stores of an earlier
 * release (loose {@code objects/<sha256>}) are still read, rolled back and cleaned.
 */
public final class CopyEngine implements SnapshotEngine {
    public static final String NAME = "copy";
    /** The store's directory of indexes, {@code <checkpoint>-<key>} each. */
    static final String INDEX_DIR = "index";
    /** The store's directory of packs, named as their snapshot's index. */
    static final String PACK_DIR = "packs";
    /** Loose objects, {@code objects/<sha256>}, as stores of an earlier release hold them. */
    static final String OBJECT_DIR = "objects";
    private static final String INDEX_FORMAT = "lockstep-copy-index\t2";
    private static final java.util.regex.Pattern OBJECT_NAME = java.util.regex.Pattern.compile("[0-9a-f]{64}");
    /** One store is used by one agent; this orders a deletion's clean-up against a snapshot's writes. */
    private static final Object STORE_LOCK = new Object();
    private static final int BUFFER = 1 << 20;

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

    /**
     * A file's state as the index keeps it: its content's sha256 and where that content is, in {@code pack} (a
     * pack's name) at {@code offset}, or a loose object when {@code pack} is empty.
     */
    private record Entry(String sha256, long size, long mtimeNanos, long ctimeNanos, long inode, int mode, String pack,
                         long offset) {
        boolean sameFileAs(Entry other) {
            return size == other.size && mtimeNanos == other.mtimeNanos && ctimeNanos == other.ctimeNanos
                    && inode == other.inode;
        }

        Entry withContent(Entry blob) {
            return new Entry(blob.sha256, size, mtimeNanos, ctimeNanos, inode, mode, blob.pack, blob.offset);
        }
    }

    @Override
    public Snapshot take(String checkpointId, DataPath dataPath) throws SnapshotException {
        long started = System.nanoTime();
        synchronized (STORE_LOCK) {
            String name = checkpointId + "-" + dataPath.key();
            Path index = store.resolve(INDEX_DIR).resolve(name);
            Path pack = store.resolve(PACK_DIR).resolve(name);
            List<Path> written = new ArrayList<>();
            Path current = dataPath.path();
            try {
                // One getdents64 per directory and one statx per file, no Path or attribute map per file.
                List<String> present = DataFiles.regularFileNames(dataPath.path()).orElse(null);
                if (present == null) {
                    present = new ArrayList<>(DataFiles.regularFiles(dataPath.path()).keySet());
                }
                Map<String, Entry> previous = previousIndex(dataPath);
                Map<String, Boolean> blobsPresent = new HashMap<>();
                Map<String, Entry> now = new LinkedHashMap<>();
                List<String> changed = new ArrayList<>();
                long changedBytes = 0;
                String root = dataPath.path().toString();
                Pointer statx = Native.statxBuffer();
                for (String relative : present) {
                    Native.FileState state = Native.fileState(relative.isEmpty() ? root : root + "/" + relative, statx);
                    Entry stat = new Entry("", state.size(), state.mtimeNanos(), state.ctimeNanos(), state.inode(),
                            state.mode(), "", 0);
                    Entry before = previous.get(relative);
                    if (before != null && before.sameFileAs(stat) && blobPresent(before, blobsPresent)) {
                        now.put(relative, stat.withContent(before));
                    } else {
                        changed.add(relative);
                        changedBytes += stat.size();
                        now.put(relative, stat);
                    }
                }
                long bound = dataPath.copyMaxBytes().orElse(maxBytes);
                if (changedBytes > bound) {
                    throw new SnapshotRefusedException("copy snapshot of " + dataPath.path() + " refused: "
                            + changedBytes + " bytes in " + changed.size() + " changed files exceed the bound of "
                            + bound + " bytes (data-path --copy-max-bytes); choose a reflink, btrfs or command engine");
                }
                Files.createDirectories(index.getParent());
                long copied = 0;
                if (!changed.isEmpty()) {
                    Files.createDirectories(pack.getParent());
                    // Content an earlier snapshot holds (a file changed back, or moved): its blob, not a new one.
                    Map<String, Entry> known = new HashMap<>();
                    previous.values().forEach(e -> known.putIfAbsent(e.sha256(), e));
                    byte[] buffer = new byte[BUFFER];
                    try (FileChannel out = FileChannel.open(pack, StandardOpenOption.CREATE_NEW, StandardOpenOption.WRITE)) {
                        written.add(pack);
                        for (String relative : changed) {
                            current = relative.isEmpty() ? dataPath.path() : dataPath.path().resolve(relative);
                            long offset = out.position();
                            Copied blob = appendHashing(current, out, buffer);
                            Entry stat = now.get(relative);
                            Entry fresh = new Entry(blob.sha256(), blob.size(), stat.mtimeNanos(), stat.ctimeNanos(),
                                    stat.inode(), stat.mode(), name, offset);
                            Entry same = known.get(blob.sha256());
                            if (same != null && (same.pack().equals(name) || blobPresent(same, blobsPresent))) {
                                out.truncate(offset);
                                out.position(offset);
                                now.put(relative, fresh.withContent(same));
                            } else {
                                known.put(blob.sha256(), fresh);
                                now.put(relative, fresh);
                                copied += blob.size();
                            }
                        }
                    }
                    if (copied == 0) {
                        // Every changed file's content was known: no pack.
                        Files.delete(pack);
                        written.remove(pack);
                    }
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

    /**
     * Makes the snapshot durable, before the checkpoint may commit: one fsync of its pack and of its index, and of
     * the directories naming them. The agent calls this after the thaw (the Capture call that brings the manifest).
     */
    @Override
    public void makeDurable(Snapshot snapshot) throws SnapshotException {
        Path index = Path.of(snapshot.location());
        Path pack = store.resolve(PACK_DIR).resolve(index.getFileName().toString());
        Path current = pack;
        try {
            if (Files.exists(pack)) {
                force(pack);
                force(pack.getParent());
            }
            current = index;
            force(index);
            force(index.getParent());
        } catch (IOException e) {
            throw new SnapshotException("making the copy snapshot " + index + " of checkpoint " + snapshot.checkpointId()
                    + " durable failed at " + current + ": " + e.getMessage(), e);
        }
    }

    private static void force(Path path) throws IOException {
        try (FileChannel channel = FileChannel.open(path, StandardOpenOption.READ)) {
            channel.force(true);
        }
    }

    /** Whether an entry's content is still in the store: its pack, or its loose object. */
    private boolean blobPresent(Entry entry, Map<String, Boolean> known) {
        String where = entry.pack().isEmpty() ? OBJECT_DIR + "/" + entry.sha256() : PACK_DIR + "/" + entry.pack();
        return known.computeIfAbsent(where, w -> Files.exists(store.resolve(w)));
    }

    private record Copied(String sha256, long size) {
    }

    /** Appends {@code source} to {@code out}, returning the sha256 and length of what it copied. */
    private static Copied appendHashing(Path source, FileChannel out, byte[] buffer) throws IOException {
        MessageDigest digest = DataFiles.newSha256();
        long size = 0;
        try (InputStream in = Files.newInputStream(source, LinkOption.NOFOLLOW_LINKS)) {
            for (int n; (n = in.readNBytes(buffer, 0, buffer.length)) > 0; ) {
                digest.update(buffer, 0, n);
                ByteBuffer chunk = ByteBuffer.wrap(buffer, 0, n);
                while (chunk.hasRemaining()) {
                    out.write(chunk);
                }
                size += n;
            }
        }
        return new Copied(HexFormat.of().formatHex(digest.digest()), size);
    }

    /** Written under a temporary name and renamed: an index is whole or absent. Its durability: {@link #makeDurable}. */
    private static void writeIndex(Path index, Path dataPath, Map<String, Entry> entries) throws IOException {
        Path temporary = index.resolveSibling(index.getFileName() + ".incoming");
        try (BufferedWriter w = Files.newBufferedWriter(temporary, StandardCharsets.UTF_8)) {
            w.write(INDEX_FORMAT + "\n");
            w.write("data-path\t" + dataPath + "\n");
            for (Map.Entry<String, Entry> e : entries.entrySet()) {
                Entry v = e.getValue();
                w.write(v.sha256() + "\t" + v.size() + "\t" + v.mtimeNanos() + "\t" + v.ctimeNanos() + "\t" + v.inode()
                        + "\t" + v.mode() + "\t" + v.pack() + "\t" + v.offset() + "\t" + e.getKey() + "\n");
            }
        }
        Files.move(temporary, index, StandardCopyOption.ATOMIC_MOVE);
    }

    private record Index(Path dataPath, Map<String, Entry> entries) {
    }

    /** Reads an index: this release's (packs), or an earlier one's (loose objects, seven fields a line). */
    private static Index readIndex(Path index) throws IOException {
        List<String> lines = Files.readAllLines(index, StandardCharsets.UTF_8);
        boolean packed = !lines.isEmpty() && lines.get(0).equals(INDEX_FORMAT);
        List<String> body = packed ? lines.subList(1, lines.size()) : lines;
        if (body.isEmpty() || !body.get(0).startsWith("data-path\t")) {
            throw new IOException("snapshot index " + index + " has no data-path header");
        }
        Map<String, Entry> entries = new LinkedHashMap<>();
        for (String line : body.subList(1, body.size())) {
            String[] f = line.split("\t", packed ? 9 : 7);
            entries.put(f[packed ? 8 : 6], new Entry(f[0], Long.parseLong(f[1]), Long.parseLong(f[2]),
                    Long.parseLong(f[3]), Long.parseLong(f[4]), Integer.parseInt(f[5]), packed ? f[6] : "",
                    packed ? Long.parseLong(f[7]) : 0));
        }
        return new Index(Path.of(body.get(0).substring("data-path\t".length())), entries);
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
        Path indexPath = Path.of(snapshot.location());
        Index index;
        try {
            index = readIndex(indexPath);
        } catch (IOException | RuntimeException e) {
            throw new RollBackException("roll-back of " + snapshot.dataPath() + " to checkpoint " + snapshot.checkpointId()
                    + " failed: its copy index " + indexPath + " is unreadable (" + e.getMessage()
                    + "); the current files are untouched", e);
        }
        Map<String, StagedRollBack.Source> wanted = new LinkedHashMap<>();
        for (SnapshotFile file : snapshot.files()) {
            Entry entry = index.entries().get(file.relativePath());
            if (entry == null || !entry.sha256().equals(file.sha256().orElseThrow())) {
                throw new RollBackException("roll-back of " + snapshot.dataPath() + " to checkpoint "
                        + snapshot.checkpointId() + " failed at " + file.relativePath() + ": its copy index " + indexPath
                        + " does not hold sha256 " + file.sha256().orElseThrow() + "; the current files are untouched",
                        null);
            }
            wanted.put(file.relativePath(), entry.pack().isEmpty()
                    ? new StagedRollBack.Source(store.resolve(OBJECT_DIR).resolve(entry.sha256()), false, file.sha256(),
                            file.size(), file.mode())
                    : StagedRollBack.Source.regionOf(store.resolve(PACK_DIR).resolve(entry.pack()), entry.offset(),
                            file.sha256(), file.size(), file.mode()));
        }
        return StagedRollBack.apply(snapshot.checkpointId(), snapshot.dataPath(), snapshot.directory(), wanted);
    }

    /**
     * Removes the snapshot's index, then every pack and loose object no remaining index refers to: content another
     * checkpoint shares stays; what a deletion that failed half-way left goes now.
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
                            // An index still being written (.incoming) names only content of a snapshot in progress,
                            // and no snapshot is in progress while this holds the store's lock.
                            if (!p.getFileName().toString().endsWith(".incoming")) {
                                readIndex(p).entries().values().forEach(e -> referenced.add(
                                        e.pack().isEmpty() ? OBJECT_DIR + "/" + e.sha256() : PACK_DIR + "/" + e.pack()));
                            }
                        }
                    }
                }
                for (String dir : List.of(OBJECT_DIR, PACK_DIR)) {
                    Path blobs = store.resolve(dir);
                    if (!Files.isDirectory(blobs)) {
                        continue;
                    }
                    try (Stream<Path> list = Files.list(blobs)) {
                        for (Path blob : (Iterable<Path>) list::iterator) {
                            String name = blob.getFileName().toString();
                            boolean ours = dir.equals(PACK_DIR) || OBJECT_NAME.matcher(name).matches();
                            if (ours && !referenced.contains(dir + "/" + name)) {
                                current = blob;
                                Files.deleteIfExists(blob);
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
