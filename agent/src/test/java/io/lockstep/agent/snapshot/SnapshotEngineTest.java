package io.lockstep.agent.snapshot;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.time.Duration;
import java.util.Map;
import java.util.Random;
import java.util.TreeMap;
import java.util.UUID;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;

/**
 * Every engine on the file system it is for, made inside the test: after the snapshot the data is appended
 * to, truncated, one file deleted and one created; the roll-back brings back exactly the snapshot's
 * content (sha256 of every file) and removes the new file. Then the refusals and failures.
 */
class SnapshotEngineTest {
    private static final Duration COMMAND_TIMEOUT = Duration.ofSeconds(20);

    private static String checkpointId() {
        return "ck-" + UUID.randomUUID();
    }

    /** A log, a binary file, a file the application will delete, and one in a subdirectory. */
    private static void writeData(Path data) throws IOException {
        Files.createDirectories(data.resolve("sub"));
        StringBuilder log = new StringBuilder();
        for (int i = 0; i < 100; i++) {
            log.append("record ").append(i).append('\n');
        }
        Files.writeString(data.resolve("app.log"), log);
        byte[] bytes = new byte[256 * 1024];
        new Random(42).nextBytes(bytes);
        Files.write(data.resolve("state.db"), bytes);
        Files.writeString(data.resolve("scratch.tmp"), "deleted after the checkpoint\n");
        Files.writeString(data.resolve("sub/notes.txt"), "kept as is\n");
    }

    /** What a running application does after the checkpoint. */
    private static void changeAfterCheckpoint(Path data) throws IOException {
        Files.writeString(data.resolve("app.log"), "record after the checkpoint\n", StandardOpenOption.APPEND);
        try (var channel = java.nio.channels.FileChannel.open(data.resolve("state.db"), StandardOpenOption.WRITE)) {
            channel.truncate(1000);
        }
        Files.delete(data.resolve("scratch.tmp"));
        Files.writeString(data.resolve("sub/created-since.txt"), "not in the checkpoint\n");
    }

    private static Map<String, String> digests(Path data) throws IOException {
        Map<String, String> digests = new TreeMap<>();
        for (Map.Entry<String, Path> file : DataFiles.regularFiles(data).entrySet()) {
            digests.put(file.getKey(), DataFiles.sha256(file.getValue()));
        }
        return digests;
    }

    /** Overwrites the start of a file's content in the copy snapshot's pack, where its index says it is. */
    private static void damageInItsPack(Snapshot snapshot, String relativePath, Path store) throws IOException {
        String[] entry = Files.readAllLines(Path.of(snapshot.location())).stream()
                .filter(line -> line.endsWith("\t" + relativePath)).findFirst().orElseThrow().split("\t");
        try (java.nio.channels.FileChannel pack = java.nio.channels.FileChannel.open(
                store.resolve(CopyEngine.PACK_DIR).resolve(entry[6]), StandardOpenOption.WRITE)) {
            pack.write(java.nio.ByteBuffer.wrap("damaged in the store".getBytes(StandardCharsets.UTF_8)),
                    Long.parseLong(entry[7]));
        }
    }

    /** Snapshot, change, roll back, compare; then delete the snapshot. Returns the snapshot taken. */
    private static Snapshot roundTrip(SnapshotEngine engine, DataPath dataPath) throws IOException {
        Path data = dataPath.path();
        Map<String, String> atCheckpoint = digests(data);
        Snapshot snapshot = engine.makeDurable(engine.take(checkpointId(), dataPath));
        assertThat(snapshot.engine()).isEqualTo(engine.name());
        changeAfterCheckpoint(data);
        assertThat(digests(data)).isNotEqualTo(atCheckpoint);

        RollBackReport report = engine.rollBack(snapshot);

        assertThat(digests(data)).as("every file's sha256 after the roll-back").isEqualTo(atCheckpoint);
        assertThat(report.restoredSha256()).isEqualTo(atCheckpoint);
        assertThat(data.resolve("sub/created-since.txt")).doesNotExist();
        try (Stream<Path> all = Files.walk(data)) {
            assertThat(all.map(p -> p.getFileName().toString())).noneMatch(n -> n.startsWith(DataFiles.STAGING_PREFIX));
        }
        engine.delete(snapshot);
        return snapshot;
    }

    @Test
    void reflinkOnXfsBringsBackTheCheckpointContent() throws IOException {
        try (LoopFileSystem fs = LoopFileSystem.xfsReflink(300)) {
            Path data = fs.root().resolve("data");
            writeData(data);
            SnapshotEngines engines = new SnapshotEngines(fs.root().resolve("store"), 1 << 30, COMMAND_TIMEOUT);
            assertThat(engines.forPath(DataPath.of(data)).name()).as("the default engine on XFS with reflink")
                    .isEqualTo(ReflinkEngine.NAME);

            Snapshot snapshot = roundTrip(new ReflinkEngine(), DataPath.of(data));

            assertThat(snapshot.files()).hasSize(4);
            assertThat(snapshot.copiedBytes()).isZero();
            assertThat(Path.of(snapshot.location())).doesNotExist();
            assertThat(fs.root().resolve(DataFiles.SNAPSHOT_DIR)).isEmptyDirectory();
        }
    }

    @Test
    void reflinkOfOneFileBringsItBack() throws IOException {
        try (LoopFileSystem fs = LoopFileSystem.xfsReflink(300)) {
            Path data = fs.root().resolve("data");
            writeData(data);
            Path file = data.resolve("app.log");
            String atCheckpoint = DataFiles.sha256(file);
            ReflinkEngine engine = new ReflinkEngine();
            Snapshot snapshot = engine.take(checkpointId(), DataPath.of(file));
            Files.writeString(file, "appended\n", StandardOpenOption.APPEND);

            engine.rollBack(snapshot);

            assertThat(DataFiles.sha256(file)).isEqualTo(atCheckpoint);
            assertThat(data.resolve("state.db")).exists();
            engine.delete(snapshot);
        }
    }

    @Test
    void btrfsSubvolumeSnapshotBringsBackTheCheckpointContent() throws IOException {
        try (LoopFileSystem fs = LoopFileSystem.btrfs(300)) {
            Path subvolume = fs.root().resolve("volume");
            LoopFileSystem.run("btrfs", "subvolume", "create", subvolume.toString());
            Path data = subvolume.resolve("data");
            writeData(data);
            SnapshotEngines engines = new SnapshotEngines(fs.root().resolve("store"), 1 << 30, COMMAND_TIMEOUT);
            assertThat(engines.forPath(DataPath.of(data)).name()).as("the default engine on btrfs")
                    .isEqualTo(BtrfsEngine.NAME);

            Snapshot snapshot = roundTrip(new BtrfsEngine(), DataPath.of(data));

            assertThat(snapshot.location()).startsWith(subvolume.resolve(DataFiles.SNAPSHOT_DIR).toString());
            assertThat(LoopFileSystem.run("btrfs", "subvolume", "list", fs.root().toString()))
                    .as("the snapshot subvolume is deleted with the snapshot").doesNotContain(snapshot.checkpointId());
        }
    }

    @Test
    void commandEngineWithBtrfsCommandsBringsBackTheCheckpointContent() throws IOException {
        try (LoopFileSystem fs = LoopFileSystem.btrfs(300)) {
            Path data = fs.root().resolve("data");
            LoopFileSystem.run("btrfs", "subvolume", "create", data.toString());
            writeData(data);
            SnapshotCommands commands = new SnapshotCommands(
                    "btrfs subvolume snapshot -r {path} {path}.at-{id}",
                    "btrfs subvolume delete {path} && btrfs subvolume snapshot {path}.at-{id} {path}",
                    "btrfs subvolume delete {path}.at-{id}");

            Snapshot snapshot = roundTrip(new CommandEngine(COMMAND_TIMEOUT), DataPath.withCommands(data, commands));

            assertThat(LoopFileSystem.run("btrfs", "subvolume", "list", fs.root().toString()))
                    .doesNotContain(snapshot.checkpointId());
        }
    }

    @Test
    void copyOnTmpfsBringsBackTheCheckpointContentAndCopiesOnlyChangedFiles() throws IOException {
        try (LoopFileSystem fs = LoopFileSystem.tmpfs(64)) {
            Path data = fs.root().resolve("data");
            writeData(data);
            Path store = fs.root().resolve("store");
            SnapshotEngines engines = new SnapshotEngines(store, 1 << 30, COMMAND_TIMEOUT);
            assertThat(engines.forPath(DataPath.of(data)).name()).as("the default engine on tmpfs")
                    .isEqualTo(CopyEngine.NAME);
            CopyEngine engine = new CopyEngine(store, 1 << 30);

            Snapshot taken = engine.take(checkpointId(), DataPath.of(data));
            assertThat(taken.files()).as("inside the window: copied, not hashed")
                    .allSatisfy(f -> assertThat(f.sha256()).isEmpty());
            Snapshot first = engine.makeDurable(taken);
            assertThat(first.files().stream().collect(java.util.stream.Collectors.toMap(SnapshotFile::relativePath,
                    f -> f.sha256().orElseThrow()))).as("after the thaw: every file's sha256").isEqualTo(digests(data));
            assertThat(first.copiedBytes()).isEqualTo(first.bytes());
            Files.writeString(data.resolve("app.log"), "one more record\n", StandardOpenOption.APPEND);
            long appLogSize = Files.size(data.resolve("app.log"));

            Snapshot second = roundTrip(engine, DataPath.of(data));

            assertThat(second.copiedBytes()).as("only app.log changed since the first snapshot").isEqualTo(appLogSize);
            try (Stream<Path> packs = Files.list(store.resolve(CopyEngine.PACK_DIR))) {
                assertThat(packs).as("packs left once the second snapshot is deleted: the first's, which it shared")
                        .singleElement().satisfies(pack -> assertThat(pack.getFileName().toString())
                                .isEqualTo(Path.of(first.location()).getFileName().toString()));
            }
            engine.delete(first);
            try (Stream<Path> packs = Files.list(store.resolve(CopyEngine.PACK_DIR))) {
                assertThat(packs).as("packs left after both snapshots are deleted").isEmpty();
            }
        }
    }

    /** A copy snapshot's index lines by relative path: sha256, size, mtime, ctime, inode, mode, pack, offset. */
    private static Map<String, String[]> indexEntries(Snapshot snapshot) throws IOException {
        Map<String, String[]> entries = new TreeMap<>();
        for (String line : Files.readAllLines(Path.of(snapshot.location()))) {
            String[] fields = line.split("\t", 9);
            if (fields.length == 9) {
                entries.put(fields[8], fields);
            }
        }
        return entries;
    }

    @Test
    void copyStoresContentTheStoreHoldsAlreadyOnceWhenItHashesAfterTheThaw() throws IOException {
        try (LoopFileSystem fs = LoopFileSystem.tmpfs(16)) {
            Path data = fs.root().resolve("data");
            Files.createDirectories(data);
            byte[] content = new byte[256 * 1024];
            new Random(7).nextBytes(content);
            Files.write(data.resolve("a.bin"), content);
            Files.write(data.resolve("b.bin"), content);
            Path store = fs.root().resolve("store");
            CopyEngine engine = new CopyEngine(store, 1 << 30);

            Snapshot taken = engine.take(checkpointId(), DataPath.of(data));
            assertThat(indexEntries(taken).values()).as("inside the window: both copied, named by pack offset")
                    .extracting(e -> e[0] + "@" + e[7]).containsExactly(CopyEngine.PENDING + "@0",
                            CopyEngine.PENDING + "@" + content.length);
            assertThatThrownBy(() -> engine.rollBack(taken)).as("a snapshot never made durable")
                    .isInstanceOf(RollBackException.class).hasMessageContaining("was never made durable");
            Snapshot first = engine.makeDurable(taken);

            Map<String, String[]> entries = indexEntries(first);
            assertThat(entries.get("b.bin")[6] + "@" + entries.get("b.bin")[7]).as("b.bin's blob: a.bin's")
                    .isEqualTo(entries.get("a.bin")[6] + "@" + entries.get("a.bin")[7]);
            Path pack = store.resolve(CopyEngine.PACK_DIR).resolve(entries.get("a.bin")[6]);
            assertThat(Long.parseLong(LoopFileSystem.run("stat", "-c", "%b", pack.toString()).strip()) * 512)
                    .as("bytes the pack occupies (512-byte blocks)").isLessThan(2L * content.length);

            Files.move(data.resolve("b.bin"), data.resolve("moved.bin"));
            Files.delete(data.resolve("a.bin"));
            Snapshot second = engine.makeDurable(engine.take(checkpointId(), DataPath.of(data)));

            assertThat(second.copiedBytes()).as("moved.bin is new to the window").isEqualTo(content.length);
            assertThat(indexEntries(second).get("moved.bin")[6]).as("moved.bin's blob: the first snapshot's")
                    .isEqualTo(entries.get("a.bin")[6]);
            assertThat(store.resolve(CopyEngine.PACK_DIR).resolve(Path.of(second.location()).getFileName()))
                    .as("the second snapshot's pack, all of whose content the store held").doesNotExist();
            engine.delete(first);
            Files.writeString(data.resolve("moved.bin"), "overwritten after the checkpoint\n");
            Files.writeString(data.resolve("created-since.bin"), "not in the checkpoint\n");
            engine.rollBack(second);
            assertThat(Files.readAllBytes(data.resolve("moved.bin"))).as("moved.bin rolled back from the first pack")
                    .isEqualTo(content);
            assertThat(data.resolve("created-since.bin")).doesNotExist();
        }
    }

    @Test
    void aCopySnapshotDeletedBeforeItIsMadeDurableStaysDeleted() throws IOException {
        try (LoopFileSystem fs = LoopFileSystem.tmpfs(16)) {
            Path data = fs.root().resolve("data");
            writeData(data);
            Path store = fs.root().resolve("store");
            CopyEngine engine = new CopyEngine(store, 1 << 30);
            Snapshot taken = engine.take(checkpointId(), DataPath.of(data));

            engine.delete(taken);

            assertThatThrownBy(() -> engine.makeDurable(taken)).isInstanceOf(SnapshotException.class)
                    .hasMessageContaining("making the copy snapshot " + taken.location() + " of checkpoint "
                            + taken.checkpointId() + " durable failed");
            try (Stream<Path> left = Files.walk(store)) {
                assertThat(left.filter(Files::isRegularFile)).as("files left in the store").isEmpty();
            }
        }
    }

    @Test
    void copyAboveTheSizeBoundIsRefusedBeforeWritingAnything() throws IOException {
        try (LoopFileSystem fs = LoopFileSystem.tmpfs(16)) {
            Path data = fs.root().resolve("data");
            writeData(data);
            Path store = fs.root().resolve("store");
            CopyEngine engine = new CopyEngine(store, 64 * 1024);

            assertThatThrownBy(() -> engine.take(checkpointId(), DataPath.of(data)))
                    .isInstanceOf(SnapshotRefusedException.class)
                    .hasMessageContaining("copy snapshot of " + data + " refused")
                    .hasMessageContaining("exceed the bound of 65536 bytes");
            assertThat(store).doesNotExist();
        }
    }

    @Test
    void copyIntoAFullStoreFailsNamingTheFileAndLeavesNothing() throws IOException {
        try (LoopFileSystem dataFs = LoopFileSystem.tmpfs(16); LoopFileSystem storeFs = LoopFileSystem.tmpfs(1)) {
            Path data = dataFs.root().resolve("data");
            writeData(data);
            byte[] big = new byte[2 << 20];
            Files.write(data.resolve("state.db"), big);
            CopyEngine engine = new CopyEngine(storeFs.root(), 1 << 30);

            assertThatThrownBy(() -> engine.take(checkpointId(), DataPath.of(data)))
                    .isInstanceOf(SnapshotException.class)
                    .hasMessageContaining("failed at " + data.resolve("state.db"))
                    .hasMessageContaining("No space left on device");
            try (Stream<Path> left = Files.walk(storeFs.root())) {
                assertThat(left.filter(Files::isRegularFile)).as("files left in the full store").isEmpty();
            }
        }
    }

    @Test
    void aFailedRollBackLeavesTheCurrentFilesAsTheyWere() throws IOException {
        try (LoopFileSystem fs = LoopFileSystem.tmpfs(16)) {
            Path data = fs.root().resolve("data");
            writeData(data);
            Path store = fs.root().resolve("store");
            CopyEngine engine = new CopyEngine(store, 1 << 30);
            Snapshot snapshot = engine.makeDurable(engine.take(checkpointId(), DataPath.of(data)));
            changeAfterCheckpoint(data);
            Map<String, String> now = digests(data);
            damageInItsPack(snapshot, "state.db", store);

            assertThatThrownBy(() -> engine.rollBack(snapshot))
                    .isInstanceOf(RollBackException.class)
                    .hasMessageContaining("roll-back of " + data + " to checkpoint " + snapshot.checkpointId() + " failed at "
                            + data.resolve("state.db"))
                    .hasMessageContaining("the current files are untouched");

            assertThat(digests(data)).as("the files after the failed roll-back").isEqualTo(now);
            try (Stream<Path> all = Files.walk(data)) {
                assertThat(all.map(p -> p.getFileName().toString())).noneMatch(n -> n.startsWith(DataFiles.STAGING_PREFIX));
            }
        }
    }

    @Test
    void reflinkOnTmpfsIsRefusedNamingTheFileSystem() throws IOException {
        try (LoopFileSystem fs = LoopFileSystem.tmpfs(16)) {
            Path data = fs.root().resolve("data");
            writeData(data);

            assertThatThrownBy(() -> new ReflinkEngine().take(checkpointId(), DataPath.of(data)))
                    .isInstanceOf(SnapshotRefusedException.class)
                    .hasMessageContaining("cannot clone files");
            assertThat(fs.root().resolve(DataFiles.SNAPSHOT_DIR)).doesNotExist();
        }
    }
}
