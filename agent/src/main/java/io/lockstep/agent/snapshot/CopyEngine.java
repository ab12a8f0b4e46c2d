package io.lockstep.agent.snapshot;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.ByteBuffer;
import java.nio.CharBuffer;
import java.nio.channels.FileChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
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
import io.lockstep.agent.nativeio.LibC;
import io.lockstep.agent.nativeio.Native;
import io.lockstep.agent.nativeio.NativeException;
import jnr.ffi.Pointer;

/**
 * Portable: copies the data path's changed files into one pack file per snapshot ({@code packs/<checkpoint>-<key>},
 * the blobs one after the other) with an index per snapshot ({@code index/<checkpoint>-<key>}: each file's sha256,
 * and the pack and offset of its content). Only files changed since the data path's previous snapshot (size, mtime,
 * ctime or inode differ) are copied; the others keep their recorded blob. Inside the window ({@link #take}) the
 * snapshot pays one statx per file and, per changed file, an open and a sendfile into the pack (the bytes move in the
 * kernel, page cache to page cache); its index names each new blob by its place in the pack, its sha256 still
 * {@link #PENDING}. After the thaw ({@link #makeDurable}) the pending blobs are hashed from the pack, a blob whose
 * content an earlier index or this pack holds already is dropped (its entry names that blob, its bytes in the pack
 * become a hole), the index is rewritten with every sha256, and pack and index are fsynced: content stays addressed by
 * sha256, and the manifest that reaches the coordinator carries the digests. A snapshot that would copy more than the
 * bound is refused before anything is written, so the window stays bounded. Stores of an earlier release (loose
 * {@code objects/<sha256>}) are still read, rolled back and cleaned.
 */
public final class CopyEngine implements SnapshotEngine {
    public static final String NAME = "copy";
    /** The store's directory of indexes, {@code <checkpoint>-<key>} each. */
    static final String INDEX_DIR = "index";
    /** The store's directory of packs, named as their snapshot's index. */
    static final String PACK_DIR = "packs";
    /** Loose objects, {@code objects/<sha256>}, as stores of an earlier release hold them. */
    static final String OBJECT_DIR = "objects";
    /** An index entry's sha256 between the window and {@link #makeDurable}: its blob is known by pack and offset. */
    static final String PENDING = "pending";
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
     * A file's state as the index keeps it: its content's sha256 ({@link #PENDING} until {@link #makeDurable}) and
     * where that content is, in {@code pack} (a pack's name) at {@code offset}, or a loose object when {@code pack}
     * is empty.
     */
    private record Entry(String sha256, long size, long mtimeNanos, long ctimeNanos, long inode, int mode, String pack,
                         long offset) {
        boolean sameFileAs(Entry other) {
            return size == other.size && mtimeNanos == other.mtimeNanos && ctimeNanos == other.ctimeNanos
                    && inode == other.inode;
        }

        boolean pending() {
            return sha256.equals(PENDING);
        }

        boolean sameBlobAs(Entry other) {
            return pack.equals(other.pack) && offset == other.offset && (!pack.isEmpty() || sha256.equals(other.sha256));
        }

        Entry withContent(Entry blob) {
            return new Entry(blob.sha256, size, mtimeNanos, ctimeNanos, inode, mode, blob.pack, blob.offset);
        }

        Entry withSha256(String digest) {
            return new Entry(digest, size, mtimeNanos, ctimeNanos, inode, mode, pack, offset);
        }

        Optional<String> recordedSha256() {
            return pending() ? Optional.empty() : Optional.of(sha256);
        }
    }

    /**
     * Inside the window: the changed files' bytes into a new pack, and an index naming each new blob by its place
     * there. The returned snapshot's files that were copied have no sha256 yet: {@link #makeDurable} completes them.
     */
    @Override
    public Snapshot take(String checkpointId, DataPath dataPath) throws SnapshotException {
        long started = System.nanoTime();
        synchronized (STORE_LOCK) {
            String name = checkpointId + "-" + dataPath.key();
            Path index = store.resolve(INDEX_DIR).resolve(name);
            Path pack = store.resolve(PACK_DIR).resolve(name);
            List<Path> written = new ArrayList<>();
            String root = dataPath.path().toString();
            String current = root;
            // The data path's directory, open once: each file's statx and open walk only its path inside it.
            int base = LibC.AT_FDCWD;
            try {
                // One getdents64 per directory and one statx per file, no Path or attribute map per file.
                List<String> present = DataFiles.regularFileNames(dataPath.path()).orElse(null);
                if (present == null) {
                    present = new ArrayList<>(DataFiles.regularFiles(dataPath.path()).keySet());
                }
                if (!present.equals(List.of(""))) {
                    base = Native.open(root, LibC.O_PATH | LibC.O_DIRECTORY | LibC.O_CLOEXEC, 0);
                }
                Map<String, Entry> previous = previousIndex(dataPath.path(), dataPath.key(), name);
                Map<String, Boolean> blobsPresent = new HashMap<>();
                Map<String, Entry> now = new LinkedHashMap<>();
                List<String> changed = new ArrayList<>();
                long changedBytes = 0;
                Pointer statx = Native.statxBuffer();
                for (String relative : present) {
                    Native.FileState state = Native.fileStateAt(base, at(relative, root), statx,
                            relative.isEmpty() ? root : root + "/" + relative);
                    Entry stat = new Entry(PENDING, state.size(), state.mtimeNanos(), state.ctimeNanos(), state.inode(),
                            state.mode(), name, 0);
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
                if (!changed.isEmpty()) {
                    Files.createDirectories(pack.getParent());
                    current = pack.toString();
                    int out = Native.open(current, LibC.O_WRONLY | LibC.O_CREAT | LibC.O_EXCL | LibC.O_CLOEXEC, 0600);
                    written.add(pack);
                    try {
                        long offset = 0;
                        for (String relative : changed) {
                            current = relative.isEmpty() ? root : root + "/" + relative;
                            Entry stat = now.get(relative);
                            long size = stat.size() == 0 ? 0 : append(base, at(relative, root), current, out,
                                    stat.size(), pack);
                            now.put(relative, new Entry(PENDING, size, stat.mtimeNanos(), stat.ctimeNanos(),
                                    stat.inode(), stat.mode(), name, offset));
                            offset += size;
                        }
                    } finally {
                        Native.close(out);
                    }
                }
                current = index.toString();
                writeIndex(index, dataPath.path(), now);
                written.add(index);
                List<SnapshotFile> files = new ArrayList<>();
                long bytes = 0;
                for (Map.Entry<String, Entry> e : now.entrySet()) {
                    files.add(new SnapshotFile(e.getKey(), e.getValue().size(), e.getValue().mode(),
                            e.getValue().recordedSha256()));
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
            } finally {
                closeBase(base, dataPath.path());
            }
        }
    }

    /** A file's name for the *at syscalls under the data path's directory: relative, or the data path (a file) itself. */
    private static String at(String relative, String root) {
        return relative.isEmpty() ? root : relative;
    }

    private static void closeBase(int base, Path dataPath) throws SnapshotException {
        if (base != LibC.AT_FDCWD) {
            try {
                Native.close(base);
            } catch (NativeException e) {
                throw new SnapshotException("copy snapshot of " + dataPath + ": " + e.getMessage(), e);
            }
        }
    }

    /**
     * Appends the first {@code size} bytes of {@code source} ({@code name} under the directory open as {@code base})
     * to the pack open as {@code pack}, by sendfile, fewer if it is shorter now; returns how many it appended.
     */
    private static long append(int base, String name, String source, int pack, long size, Path packPath)
            throws NativeException {
        int in = Native.openAt(base, name, LibC.O_RDONLY | LibC.O_CLOEXEC | LibC.O_NOFOLLOW, 0, source);
        try {
            return Native.sendfile(pack, in, size, source + " -> " + packPath);
        } finally {
            Native.close(in);
        }
    }

    /**
     * After the thaw, before the checkpoint may commit (the Capture call that brings the manifest to the
     * coordinator): hashes the blobs the window copied, drops those whose content the store holds already, rewrites
     * the index with every sha256, and fsyncs pack and index and the directories naming them. Returns the snapshot
     * with every file's sha256. Again on a snapshot made durable already: only the fsyncs.
     */
    @Override
    public Snapshot makeDurable(Snapshot snapshot) throws SnapshotException {
        Path index = Path.of(snapshot.location());
        String name = index.getFileName().toString();
        Path pack = store.resolve(PACK_DIR).resolve(name);
        Path current = index;
        Map<String, Entry> entries;
        try {
            Index recorded = readIndex(index);
            entries = new LinkedHashMap<>(recorded.entries());
            if (entries.values().stream().anyMatch(Entry::pending)) {
                // Outside the store's lock, which another group's window may need: the index names these packs, so
                // no deletion removes them meanwhile.
                Map<String, String> digests = new HashMap<>();
                current = pack;
                hashPending(entries, digests);
                synchronized (STORE_LOCK) {
                    if (!Files.exists(index)) {
                        // Deleted since (its checkpoint aborted meanwhile): not to be written again.
                        throw new NoSuchFileException(index.toString(), null, "deleted while it was being made durable");
                    }
                    List<Entry> dropped = completeAndDeduplicate(entries, digests, recorded.dataPath(),
                            name.substring(snapshot.checkpointId().length() + 1), name);
                    current = pack;
                    if (entries.values().stream().noneMatch(e -> e.pack().equals(name))) {
                        // Every blob the window copied was in the store already: no pack.
                        Files.deleteIfExists(pack);
                    } else {
                        punchHoles(pack, dropped);
                    }
                    current = index;
                    writeIndex(index, recorded.dataPath(), entries);
                }
            }
            current = pack;
            if (Files.exists(pack)) {
                force(pack);
                force(pack.getParent());
            }
            current = index;
            force(index);
            force(index.getParent());
        } catch (IOException | RuntimeException e) {
            throw new SnapshotException("making the copy snapshot " + index + " of checkpoint " + snapshot.checkpointId()
                    + " durable failed at " + current + ": " + e.getMessage(), e);
        }
        List<SnapshotFile> files = new ArrayList<>();
        for (SnapshotFile file : snapshot.files()) {
            Entry entry = entries.get(file.relativePath());
            if (entry == null) {
                throw new SnapshotException("making the copy snapshot " + index + " of checkpoint "
                        + snapshot.checkpointId() + " durable failed: its index has no entry for "
                        + snapshot.dataPath().resolve(file.relativePath()));
            }
            files.add(new SnapshotFile(file.relativePath(), file.size(), file.mode(), Optional.of(entry.sha256())));
        }
        return snapshot.withFiles(files);
    }

    private static void force(Path path) throws IOException {
        try (FileChannel channel = FileChannel.open(path, StandardOpenOption.READ)) {
            channel.force(true);
        }
    }

    /** The sha256 of every pending entry's blob, read from the pack it names, by relative path. */
    private void hashPending(Map<String, Entry> entries, Map<String, String> digests) throws IOException {
        Map<String, FileChannel> packs = new HashMap<>();
        ByteBuffer buffer = ByteBuffer.allocate(BUFFER);
        try {
            for (Map.Entry<String, Entry> e : entries.entrySet()) {
                Entry entry = e.getValue();
                if (!entry.pending()) {
                    continue;
                }
                Path packPath = store.resolve(PACK_DIR).resolve(entry.pack());
                FileChannel pack = packs.get(entry.pack());
                if (pack == null) {
                    pack = FileChannel.open(packPath, StandardOpenOption.READ);
                    packs.put(entry.pack(), pack);
                }
                MessageDigest digest = DataFiles.newSha256();
                for (long at = entry.offset(), end = entry.offset() + entry.size(); at < end; ) {
                    buffer.clear().limit((int) Math.min(buffer.capacity(), end - at));
                    if (pack.read(buffer, at) < 0) {
                        throw new IOException("pack " + packPath + " ends at " + at + ", inside the blob of "
                                + e.getKey() + " (" + entry.offset() + " to " + end + ")");
                    }
                    digest.update(buffer.array(), 0, buffer.position());
                    at += buffer.position();
                }
                digests.put(e.getKey(), HexFormat.of().formatHex(digest.digest()));
            }
        } finally {
            for (FileChannel pack : packs.values()) {
                pack.close();
            }
        }
    }

    /**
     * Gives each pending entry its sha256; one whose content an earlier snapshot of the data path (a file changed
     * back, or moved) or an earlier blob of this pack holds already names that blob instead. Returns the blobs of
     * this snapshot's pack no entry names any more. The caller holds the store's lock: the blobs found present stay.
     */
    private List<Entry> completeAndDeduplicate(Map<String, Entry> entries, Map<String, String> digests, Path dataPath,
                                               String key, String name) throws IOException {
        Map<String, Entry> known = new HashMap<>();
        previousIndex(dataPath, key, name).values().forEach(e -> {
            if (!e.pending()) {
                known.putIfAbsent(e.sha256(), e);
            }
        });
        entries.values().forEach(e -> {
            if (!e.pending()) {
                known.putIfAbsent(e.sha256(), e);
            }
        });
        Map<String, Boolean> blobsPresent = new HashMap<>();
        List<Entry> dropped = new ArrayList<>();
        for (Map.Entry<String, Entry> e : entries.entrySet()) {
            if (!e.getValue().pending()) {
                continue;
            }
            Entry hashed = e.getValue().withSha256(digests.get(e.getKey()));
            Entry same = known.get(hashed.sha256());
            if (same != null && !same.sameBlobAs(hashed)
                    && (same.pack().equals(name) || blobPresent(same, blobsPresent))) {
                e.setValue(hashed.withContent(same));
                if (hashed.pack().equals(name)) {
                    dropped.add(hashed);
                }
            } else {
                known.putIfAbsent(hashed.sha256(), hashed);
                e.setValue(hashed);
            }
        }
        return dropped;
    }

    /** Frees the bytes of the dropped blobs in the pack; where the file system cannot, they stay until the pack goes. */
    private static void punchHoles(Path pack, List<Entry> dropped) throws NativeException {
        if (dropped.isEmpty()) {
            return;
        }
        int fd = Native.open(pack.toString(), LibC.O_WRONLY | LibC.O_CLOEXEC, 0);
        try {
            for (Entry blob : dropped) {
                if (blob.size() > 0) {
                    Native.punchHole(fd, blob.offset(), blob.size(), pack.toString());
                }
            }
        } catch (NativeException e) {
            if (e.errno() != LibC.EOPNOTSUPP) {
                throw e;
            }
        } finally {
            Native.close(fd);
        }
    }

    /** Whether an entry's content is still in the store: its pack, or its loose object. */
    private boolean blobPresent(Entry entry, Map<String, Boolean> known) {
        String where = entry.pack().isEmpty() ? OBJECT_DIR + "/" + entry.sha256() : PACK_DIR + "/" + entry.pack();
        return known.computeIfAbsent(where, w -> Files.exists(store.resolve(w)));
    }

    /** Written under a temporary name and renamed: an index is whole or absent. Its durability: {@link #makeDurable}. */
    private static void writeIndex(Path index, Path dataPath, Map<String, Entry> entries) throws IOException {
        Path temporary = index.resolveSibling(index.getFileName() + ".incoming");
        StringBuilder text = new StringBuilder(128 + 160 * entries.size());
        text.append(INDEX_FORMAT).append('\n').append("data-path\t").append(dataPath).append('\n');
        for (Map.Entry<String, Entry> e : entries.entrySet()) {
            Entry v = e.getValue();
            text.append(v.sha256()).append('\t').append(v.size()).append('\t').append(v.mtimeNanos()).append('\t')
                    .append(v.ctimeNanos()).append('\t').append(v.inode()).append('\t').append(v.mode()).append('\t')
                    .append(v.pack()).append('\t').append(v.offset()).append('\t').append(e.getKey()).append('\n');
        }
        // A name UTF-8 cannot encode fails the write (CharacterCodingException), never stands in the index as '?'.
        ByteBuffer bytes = StandardCharsets.UTF_8.newEncoder().encode(CharBuffer.wrap(text));
        try (FileChannel out = FileChannel.open(temporary, StandardOpenOption.CREATE, StandardOpenOption.TRUNCATE_EXISTING,
                StandardOpenOption.WRITE)) {
            while (bytes.hasRemaining()) {
                out.write(bytes);
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

    /**
     * The newest index of the same data path (its key and path) other than {@code excluded}, by modification time;
     * empty when there is none.
     */
    private Map<String, Entry> previousIndex(Path dataPath, String key, String excluded) throws IOException {
        Path indexes = store.resolve(INDEX_DIR);
        if (!Files.isDirectory(indexes)) {
            return Map.of();
        }
        String suffix = "-" + key;
        Path newest = null;
        try (Stream<Path> list = Files.list(indexes)) {
            for (Path p : (Iterable<Path>) list::iterator) {
                String name = p.getFileName().toString();
                if (name.endsWith(suffix) && !name.equals(excluded) && (newest == null
                        || Files.getLastModifiedTime(p).compareTo(Files.getLastModifiedTime(newest)) > 0)) {
                    newest = p;
                }
            }
        }
        if (newest == null) {
            return Map.of();
        }
        Index index = readIndex(newest);
        return index.dataPath().equals(dataPath) ? index.entries() : Map.of();
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
            if (file.sha256().isEmpty()) {
                throw new RollBackException("roll-back of " + snapshot.dataPath() + " to checkpoint "
                        + snapshot.checkpointId() + " failed at " + file.relativePath() + ": its record has no sha256 (the"
                        + " copy snapshot " + indexPath + " was never made durable, so no checkpoint committed with it);"
                        + " the current files are untouched", null);
            }
            Entry entry = index.entries().get(file.relativePath());
            if (entry == null || !entry.sha256().equals(file.sha256().get())) {
                throw new RollBackException("roll-back of " + snapshot.dataPath() + " to checkpoint "
                        + snapshot.checkpointId() + " failed at " + file.relativePath() + ": its copy index " + indexPath
                        + " does not hold sha256 " + file.sha256().get() + "; the current files are untouched",
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
