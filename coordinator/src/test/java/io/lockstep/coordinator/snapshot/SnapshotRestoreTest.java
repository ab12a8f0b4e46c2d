package io.lockstep.coordinator.snapshot;

import io.lockstep.coordinator.checkpoint.CheckpointOperation;
import io.lockstep.coordinator.checkpoint.CheckpointOptions;
import io.lockstep.coordinator.op.CheckpointResult;
import io.lockstep.coordinator.op.FailureReason;
import io.lockstep.coordinator.op.OperationFailedException;
import io.lockstep.coordinator.op.OperationListener;
import io.lockstep.coordinator.op.RestoreResult;
import io.lockstep.coordinator.restore.RestoreOptions;
import io.lockstep.coordinator.testing.Invariants;
import io.lockstep.coordinator.testing.LocalCluster;
import io.lockstep.coordinator.testing.ProcLocksSnapshot;
import io.lockstep.coordinator.testing.TestMounts;
import io.lockstep.manifest.ManifestCodec;
import io.lockstep.proto.CatalogManifest;
import io.lockstep.proto.DataPathRecord;
import io.lockstep.proto.Manifest;
import io.lockstep.proto.SnapshotRecord;
import io.lockstep.proto.StagedProcess;
import io.lockstep.zk.DataPaths;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

import java.io.IOException;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.security.MessageDigest;
import java.time.Duration;
import java.util.HexFormat;
import java.util.Map;
import java.util.TreeMap;
import java.util.stream.Stream;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.awaitility.Awaitility.await;

/**
 * A checkpoint with a declared data path, end to end with real agents, cgroups, locks and stubs: the
 * snapshot is taken inside the frozen window and recorded in the manifest; after the application changed
 * its files, a restore without --force rolls them back to the checkpoint's content, re-takes the lock and
 * restarts the program — with the copy engine, with the engine chosen by default on XFS (reflink=1) and on
 * btrfs, and with the command engine running btrfs commands, each made on a loop device. A snapshot that fails
 * (refused above its bound, or out of space) aborts the checkpoint and leaves nothing frozen or stored; a
 * roll-back that fails aborts the restore and leaves the files as they were.
 */
class SnapshotRestoreTest {
    private final TestMounts mounts = new TestMounts();
    private LocalCluster cluster;

    @AfterEach
    void tearDown() throws Exception {
        try {
            mounts.close();
        } finally {
            if (cluster != null) {
                cluster.close();
            }
        }
    }

    static Path writeData(Path data) throws IOException {
        Files.createDirectories(data.resolve("sub"));
        StringBuilder log = new StringBuilder();
        for (int i = 0; i < 50; i++) {
            log.append("record ").append(i).append('\n');
        }
        Files.writeString(data.resolve("app.log"), log);
        Files.write(data.resolve("state.db"), new byte[64 * 1024]);
        Files.writeString(data.resolve("scratch.tmp"), "deleted after the checkpoint\n");
        Files.writeString(data.resolve("sub/notes.txt"), "kept\n");
        return data;
    }

    static void changeAfterCheckpoint(Path data) throws IOException {
        Files.writeString(data.resolve("app.log"), "after the checkpoint\n", StandardOpenOption.APPEND);
        try (FileChannel channel = FileChannel.open(data.resolve("state.db"), StandardOpenOption.WRITE)) {
            channel.truncate(100);
        }
        Files.delete(data.resolve("scratch.tmp"));
        Files.writeString(data.resolve("sub/created-since.txt"), "not in the checkpoint\n");
    }

    static Map<String, String> digests(Path data) throws Exception {
        Map<String, String> digests = new TreeMap<>();
        try (Stream<Path> files = Files.walk(data)) {
            for (Path file : (Iterable<Path>) files.filter(Files::isRegularFile)::iterator) {
                digests.put(data.relativize(file).toString(), HexFormat.of().formatHex(
                        MessageDigest.getInstance("SHA-256").digest(Files.readAllBytes(file))));
            }
        }
        return digests;
    }

    private void declare(String group, DataPathRecord record) throws Exception {
        new DataPaths(cluster.coordinator().zk(), cluster.layout()).put(group, record);
    }

    private Manifest manifest(CheckpointResult checkpoint, String group) throws Exception {
        CatalogManifest stored = checkpoint.catalogEntry().getManifests(0);
        return ManifestCodec.decode(cluster.coordinator().store().readVerified(group, checkpoint.checkpointId(),
                stored.getHostId(), stored.getSha256(), stored.getSize()));
    }

    private int startHolder(String group, Path data) throws Exception {
        int pid = cluster.run("h1", group, LocalCluster.worker("fd", "500", data.resolve("state.db").toString(),
                "lock", "posix", "write", "500", "0", "100", "ready", "sleep"));
        cluster.awaitReady("h1", group, pid);
        return pid;
    }

    @Test
    void aRestoreRollsTheDataPathBackToTheCheckpointReTakesTheLockAndRestartsTheProgram() throws Exception {
        cluster = LocalCluster.start("h1");
        Path data = writeData(cluster.dir().resolve("data"));
        declare("app", DataPathRecord.newBuilder().setPath(data.toString()).setEngine("copy").build());

        SnapshotRecord snapshot = checkpointChangeAndRestore("app", data);

        assertThat(snapshot.getEngine()).isEqualTo("copy");
        assertThat(snapshot.getFilesList()).hasSize(4).allSatisfy(f -> assertThat(f.getSha256()).hasSize(64));
    }

    @Test
    void theDefaultEngineOnXfsWithReflinkIsReflinkAndItsRollBackBringsTheCheckpointBack() throws Exception {
        cluster = LocalCluster.start("h1");
        Path mount = Files.createDirectories(cluster.dir().resolve("xfs"));
        try (LoopMount xfs = LoopMount.make(cluster.dir().resolve("xfs.img"), mount, "mkfs.xfs", "-q", "-m", "reflink=1")) {
            Path data = writeData(mount.resolve("data"));
            declare("app", DataPathRecord.newBuilder().setPath(data.toString()).build());

            SnapshotRecord snapshot = checkpointChangeAndRestore("app", data);

            assertThat(snapshot.getEngine()).isEqualTo("reflink");
            cluster.killApplications();
        }
    }

    @Test
    void theDefaultEngineOnBtrfsIsASubvolumeSnapshotAndItsRollBackBringsTheCheckpointBack() throws Exception {
        cluster = LocalCluster.start("h1");
        Path mount = Files.createDirectories(cluster.dir().resolve("btrfs"));
        try (LoopMount btrfs = LoopMount.make(cluster.dir().resolve("btrfs.img"), mount, "mkfs.btrfs", "-q")) {
            Path data = writeData(mount.resolve("data"));
            declare("app", DataPathRecord.newBuilder().setPath(data.toString()).build());

            SnapshotRecord snapshot = checkpointChangeAndRestore("app", data);

            assertThat(snapshot.getEngine()).isEqualTo("btrfs");
            cluster.killApplications();
        }
    }

    @Test
    void theCommandEngineWithBtrfsCommandsRollsBackThroughTheOperatorsCommand() throws Exception {
        cluster = LocalCluster.start("h1");
        Path mount = Files.createDirectories(cluster.dir().resolve("btrfs"));
        try (LoopMount btrfs = LoopMount.make(cluster.dir().resolve("btrfs.img"), mount, "mkfs.btrfs", "-q")) {
            Path data = mount.resolve("data");
            Process create = new ProcessBuilder("btrfs", "subvolume", "create", data.toString()).inheritIO().start();
            assertThat(create.waitFor()).as("btrfs subvolume create " + data).isZero();
            writeData(data);
            declare("cmd", DataPathRecord.newBuilder().setPath(data.toString()).setEngine("command")
                    .setSnapshotCommand("btrfs subvolume snapshot -r {path} {path}.at-{id}")
                    .setRollbackCommand("btrfs subvolume delete {path} && btrfs subvolume snapshot {path}.at-{id} {path}")
                    .setDeleteCommand("btrfs subvolume delete {path}.at-{id}").build());

            SnapshotRecord snapshot = checkpointChangeAndRestore("cmd", data);

            assertThat(snapshot.getEngine()).isEqualTo("command");
            cluster.killApplications();
        }
    }

    /** A holder of a lock in the data path; checkpoint; change the files; kill; restore; compare. */
    private SnapshotRecord checkpointChangeAndRestore(String group, Path data) throws Exception {
        int holder = startHolder(group, data);
        Map<String, String> atCheckpoint = digests(data);

        CheckpointResult checkpoint = cluster.checkpoint(group);

        SnapshotRecord snapshot = manifest(checkpoint, group).getSnapshots(0);
        assertThat(snapshot.getDataPath()).isEqualTo(data.toString());
        changeAfterCheckpoint(data);
        cluster.killApplications();
        await("the holder is gone").atMost(Duration.ofSeconds(10)).until(() -> ProcessHandle.of(holder).isEmpty());

        assertThatThrownBy(() -> cluster.restore(group, RestoreOptions.defaults().withAllowRoot(true).withNoRollBack(true)))
                .as("--no-rollback keeps today's validation").isInstanceOf(OperationFailedException.class)
                .satisfies(e -> assertThat(((OperationFailedException) e).reason()).isEqualTo(FailureReason.VALIDATION_FAILED))
                .hasMessageContaining("state.db");

        RestoreResult restored = cluster.restore(group, RestoreOptions.defaults().withAllowRoot(true));

        assertThat(digests(data)).as("sha256 of every file after the restore").isEqualTo(atCheckpoint);
        int newHolder = restored.processesByHost().get("h1").stream().filter(p -> p.getOldPid() == holder)
                .mapToInt(StagedProcess::getNewPid).findFirst().orElseThrow();
        await("the restarted holder holds its lock on the rolled-back file").atMost(Duration.ofSeconds(30))
                .until(() -> {
                    // the holder's own locks: the inode alone names the file (a btrfs subvolume's st_dev
                    // is not the device /proc/locks shows)
                    long inode = ProcLocksSnapshot.fileIdOf(data.resolve("state.db")).inode();
                    return ProcLocksSnapshot.read().heldBy(newHolder).stream().anyMatch(l -> l.inode() == inode);
                });
        Invariants.assertAll(cluster);
        return snapshot;
    }

    @Test
    void aRollBackThatFailsAbortsTheRestoreAndLeavesTheFilesAsTheyWere() throws Exception {
        cluster = LocalCluster.start("h1");
        Path data = writeData(cluster.dir().resolve("data"));
        declare("bad", DataPathRecord.newBuilder().setPath(data.toString()).setEngine("copy").build());
        int holder = startHolder("bad", data);
        CheckpointResult checkpoint = cluster.checkpoint("bad");
        SnapshotRecord snapshot = manifest(checkpoint, "bad").getSnapshots(0);
        changeAfterCheckpoint(data);
        cluster.killApplications();
        await("the holder is gone").atMost(Duration.ofSeconds(10)).until(() -> ProcessHandle.of(holder).isEmpty());
        // state.db's content in the copy store's pack, where the snapshot's index names it, overwritten.
        String[] entry = Files.readAllLines(Path.of(snapshot.getLocation())).stream()
                .filter(line -> line.endsWith("\tstate.db")).findFirst().orElseThrow().split("\t");
        try (FileChannel pack = FileChannel.open(Path.of(snapshot.getLocation()).getParent().resolveSibling("packs")
                .resolve(entry[6]), StandardOpenOption.WRITE)) {
            pack.write(java.nio.ByteBuffer.wrap("damaged in the store".getBytes(java.nio.charset.StandardCharsets.UTF_8)),
                    Long.parseLong(entry[7]));
        }
        Map<String, String> now = digests(data);

        assertThatThrownBy(() -> cluster.restore("bad", RestoreOptions.defaults().withAllowRoot(true)))
                .isInstanceOf(OperationFailedException.class)
                .satisfies(e -> assertThat(((OperationFailedException) e).reason()).isEqualTo(FailureReason.ROLLBACK_FAILED))
                .hasMessageContaining("roll-back of " + data + " to checkpoint " + checkpoint.checkpointId() + " failed at "
                        + data.resolve("state.db"))
                .hasMessageContaining("the current files are untouched");

        assertThat(digests(data)).as("sha256 of every file after the failed roll-back").isEqualTo(now);
        Invariants.assertAll(cluster);
    }

    @Test
    void aSnapshotAboveItsBoundAbortsTheCheckpointThawsAndLeavesNoSnapshot() throws Exception {
        cluster = LocalCluster.start("h1");
        Path data = writeData(cluster.dir().resolve("data"));
        declare("big", DataPathRecord.newBuilder().setPath(data.toString()).setEngine("copy").setCopyMaxBytes(1024)
                .build());
        int holder = startHolder("big", data);

        assertThatThrownBy(() -> cluster.checkpoint("big")).isInstanceOf(OperationFailedException.class)
                .hasMessageContaining("snapshot on host h1")
                .hasMessageContaining("copy snapshot of " + data + " refused")
                .hasMessageContaining("exceed the bound of 1024 bytes");

        assertThat(new io.lockstep.coordinator.catalog.Catalog(cluster.coordinator()).list("big")).as("no checkpoint committed").isEmpty();
        Path store = cluster.agentConfig("h1").stateDir().resolve("snapshots");
        try (Stream<Path> left = Files.exists(store) ? Files.walk(store) : Stream.empty()) {
            assertThat(left.filter(Files::isRegularFile)).as("files left in the copy store").isEmpty();
        }
        assertThat(ProcessHandle.of(holder)).isPresent();
        Invariants.assertAll(cluster);
    }

    @Test
    void aSnapshotThatRunsOutOfSpaceAbortsTheCheckpointThawsAndLeavesNoSnapshot() throws Exception {
        cluster = LocalCluster.start("h1");
        Path data = writeData(cluster.dir().resolve("data"));
        declare("full", DataPathRecord.newBuilder().setPath(data.toString()).setEngine("copy").build());
        Path store = mounts.fullTmpfs(cluster.agentConfig("h1").stateDir().resolve("snapshots"), 64 * 1024);
        int holder = startHolder("full", data);

        assertThatThrownBy(() -> cluster.checkpoint("full")).isInstanceOf(OperationFailedException.class)
                .hasMessageContaining("snapshot on host h1")
                .hasMessageContaining("copy snapshot of " + data + " into " + store + " failed at " + data.resolve("app.log"))
                .hasMessageContaining("No space left on device");

        assertThat(new io.lockstep.coordinator.catalog.Catalog(cluster.coordinator()).list("full")).as("no checkpoint committed").isEmpty();
        try (Stream<Path> left = Files.walk(store)) {
            assertThat(left.filter(Files::isRegularFile).map(p -> p.getFileName().toString()))
                    .as("files left in the full copy store").containsExactly(".filler");
        }
        assertThat(ProcessHandle.of(holder)).isPresent();
        Invariants.assertAll(cluster);
    }

    @Test
    void aCheckpointAbortedAfterItsSnapshotDeletesTheSnapshot() throws Exception {
        cluster = LocalCluster.start("h1");
        Path data = writeData(cluster.dir().resolve("data"));
        declare("late", DataPathRecord.newBuilder().setPath(data.toString()).setEngine("copy").build());
        startHolder("late", data);
        OperationListener failingAfterCapture = new OperationListener() {
            @Override
            public void phaseEnded(String phase, long micros) {
                if (phase.equals("capture")) {
                    throw new IllegalStateException("failure after the capture");
                }
            }
        };

        assertThatThrownBy(() -> new CheckpointOperation(cluster.coordinator(), CheckpointOptions.defaults(),
                failingAfterCapture).run("late")).isInstanceOf(OperationFailedException.class)
                .hasMessageContaining("failure after the capture");

        Path index = cluster.agentConfig("h1").stateDir().resolve("snapshots").resolve("index");
        await("the aborted checkpoint's snapshot is deleted").atMost(Duration.ofSeconds(10)).until(() -> {
            try (Stream<Path> left = Files.list(index)) {
                return left.findAny().isEmpty();
            }
        });
        try (Stream<Path> packs = Files.list(index.resolveSibling("packs"))) {
            assertThat(packs).as("packs left in the copy store").isEmpty();
        }
        try (Stream<Path> pending = Files.list(index.resolveSibling("pending").resolve("late"))) {
            assertThat(pending).as("pending snapshot records left").isEmpty();
        }
        Invariants.assertAll(cluster);
    }

    @Test
    void theSnapshotOfACheckpointAbortedWhileItsAgentWasDownIsDeletedWhenTheAgentStartsAgain() throws Exception {
        cluster = LocalCluster.start("h1");
        Path data = writeData(cluster.dir().resolve("data"));
        declare("down", DataPathRecord.newBuilder().setPath(data.toString()).setEngine("copy").build());
        startHolder("down", data);
        OperationListener agentStopsAfterItsManifestArrived = new OperationListener() {
            @Override
            public void phaseEnded(String phase, long micros) {
                if (phase.equals("thaw")) {
                    try {
                        cluster.stopAgent("h1");
                    } catch (Exception e) {
                        throw new IllegalStateException(e);
                    }
                    throw new IllegalStateException("h1 stopped before the decision");
                }
            }
        };

        assertThatThrownBy(() -> new CheckpointOperation(cluster.coordinator(), CheckpointOptions.defaults(),
                agentStopsAfterItsManifestArrived).run("down")).isInstanceOf(OperationFailedException.class)
                .hasMessageContaining("h1 stopped before the decision");

        Path store = cluster.agentConfig("h1").stateDir().resolve("snapshots");
        try (Stream<Path> left = Files.list(store.resolve("index"))) {
            assertThat(left).as("the aborted checkpoint's snapshot, while the agent that took it is down").hasSize(1);
        }
        cluster.startAgent("h1");
        await("the restarted agent deleted the aborted checkpoint's snapshot and its pending record")
                .atMost(Duration.ofSeconds(20)).until(() -> {
                    try (Stream<Path> index = Files.list(store.resolve("index"));
                         Stream<Path> pending = Files.list(store.resolve("pending").resolve("down"))) {
                        return index.findAny().isEmpty() && pending.findAny().isEmpty();
                    }
                });
        try (Stream<Path> packs = Files.list(store.resolve("packs"))) {
            assertThat(packs).as("packs left in the copy store").isEmpty();
        }
        Invariants.assertAll(cluster);
    }
}
