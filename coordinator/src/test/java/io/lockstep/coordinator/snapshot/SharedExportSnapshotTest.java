package io.lockstep.coordinator.snapshot;

import io.lockstep.coordinator.catalog.Catalog;
import io.lockstep.coordinator.checkpoint.CheckpointOperation;
import io.lockstep.coordinator.checkpoint.CheckpointOptions;
import io.lockstep.coordinator.op.CheckpointResult;
import io.lockstep.coordinator.op.OperationListener;
import io.lockstep.coordinator.op.RestoreResult;
import io.lockstep.coordinator.restore.RestoreOperation;
import io.lockstep.coordinator.restore.RestoreOptions;
import io.lockstep.coordinator.testing.Invariants;
import io.lockstep.coordinator.testing.LocalCluster;
import io.lockstep.coordinator.testing.ProcLocksSnapshot;
import io.lockstep.manifest.ManifestCodec;
import io.lockstep.proto.CatalogManifest;
import io.lockstep.proto.DataPathRecord;
import io.lockstep.proto.IdentityKind;
import io.lockstep.proto.SnapshotRecord;
import io.lockstep.proto.StagedProcess;
import io.lockstep.zk.DataPaths;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.function.BiConsumer;
import java.util.stream.Stream;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

/**
 * Snapshots on a shared export. The export is XFS with reflink=1 on a loop device, mounted from a device node
 * named {@code localhost:/export} and counted as a network file system, each simulated host seeing it through a
 * bind mount of its own (at another path) in a mount namespace of its own.
 * <ul>
 *   <li>Roll-back on a restore onto another host (--map h1=h2): the target host's agent finds the data path and
 *       the snapshot through its own mount and rolls back there.</li>
 *   <li>A file held by processes on two hosts is snapshotted once (by the host that created the snapshot
 *       first); both manifests record it, the restore rolls it back, and deleting the checkpoint deletes it
 *       once.</li>
 * </ul>
 */
class SharedExportSnapshotTest {
    private LocalCluster cluster;

    @AfterEach
    void tearDown() throws Exception {
        if (cluster != null) {
            cluster.close();
        }
    }

    private void startAgentSeeingExportAt(String host, Path exportSource, Path mount) throws Exception {
        cluster.startAgentProcessInMountNamespace(host, "mkdir -p '" + mount + "' && mount --bind '" + exportSource
                + "' '" + mount + "' && umount -l '" + exportSource + "'", List.of("--network-fs", "xfs"));
    }

    private LoopMount mountXfsExport(Path exportSource) throws Exception {
        return LoopMount.makeAsExport(cluster.dir().resolve("export.img"), exportSource, cluster.dir().resolve("names"),
                "localhost", "mkfs.xfs", "-q", "-m", "reflink=1");
    }

    @Test
    void theTargetHostRollsBackTheSnapshotOnTheSharedExportThroughItsOwnMountAndTheProgramRestartsThere()
            throws Exception {
        cluster = LocalCluster.start();
        Path exportSource = Files.createDirectories(cluster.dir().resolve("export-src"));
        try (LoopMount xfs = mountXfsExport(exportSource)) {
            Path data = SnapshotRestoreTest.writeData(exportSource.resolve("data"));
            Path onH1 = cluster.dir().resolve("mnt-h1");
            Path onH2 = cluster.dir().resolve("mnt-h2");
            startAgentSeeingExportAt("h1", exportSource, onH1);
            startAgentSeeingExportAt("h2", exportSource, onH2);
            checkpointChangeAndRestoreOnH2(data, onH1, (checkpointId, snapshot) -> {
                assertThat(snapshot.getEngine()).isEqualTo("reflink");
                assertThat(snapshot.getDataPath()).isEqualTo(onH1.resolve("data").toString());
                assertThat(snapshot.getDataPathIdentity().getKind()).isEqualTo(IdentityKind.NETWORK);
                assertThat(snapshot.getDataPathIdentity().getSource()).isEqualTo("localhost:/export");
                assertThat(snapshot.getDataPathIdentity().getRelativePath()).isEqualTo("data");
                assertThat(snapshot.getLocationIdentity().getRelativePath())
                        .startsWith(".lockstep-snapshots/" + checkpointId + "/");
            });
            cluster.killApplications();
            cluster.close();
            cluster = null;
        }
    }

    @Test
    void aFileHeldOnTwoHostsIsSnapshottedOnceRolledBackAndDeletedOnce() throws Exception {
        cluster = LocalCluster.start();
        Path exportSource = Files.createDirectories(cluster.dir().resolve("export-src"));
        try (LoopMount xfs = mountXfsExport(exportSource)) {
            Path shared = exportSource.resolve("shared.db");
            Files.write(shared, new byte[16 * 1024]);
            Path onH1 = cluster.dir().resolve("mnt-h1");
            Path onH2 = cluster.dir().resolve("mnt-h2");
            startAgentSeeingExportAt("h1", exportSource, onH1);
            startAgentSeeingExportAt("h2", exportSource, onH2);
            int p1 = cluster.run("h1", "app", LocalCluster.worker("fd", "500", onH1.resolve("shared.db").toString(),
                    "lock", "posix", "write", "500", "0", "10", "ready", "sleep"));
            int p2 = cluster.run("h2", "app", LocalCluster.worker("fd", "501", onH2.resolve("shared.db").toString(),
                    "lock", "posix", "write", "501", "100", "10", "ready", "sleep"));
            cluster.awaitReady("h1", "app", p1);
            cluster.awaitReady("h2", "app", p2);
            String atCheckpoint = SnapshotRestoreTest.digests(exportSource).get("shared.db");

            CheckpointResult checkpoint = new CheckpointOperation(cluster.coordinator(), CheckpointOptions.defaults(),
                    OperationListener.SILENT).run("app");

            Map<String, SnapshotRecord> byHost = new java.util.TreeMap<>();
            for (CatalogManifest stored : checkpoint.catalogEntry().getManifestsList()) {
                byHost.put(stored.getHostId(), ManifestCodec.decode(cluster.coordinator().store().readVerified("app",
                        checkpoint.checkpointId(), stored.getHostId(), stored.getSha256(), stored.getSize()))
                        .getSnapshots(0));
            }
            assertThat(byHost).containsOnlyKeys("h1", "h2");
            assertThat(byHost.values()).as("one host took the snapshot, the other found it taken")
                    .extracting(SnapshotRecord::getTakenByAnotherHost).containsExactlyInAnyOrder(true, false);
            assertThat(byHost.values()).extracting(r -> r.getLocationIdentity().getRelativePath()).as("one location")
                    .containsOnly(byHost.get("h1").getLocationIdentity().getRelativePath());
            Path snapshots = exportSource.resolve(".lockstep-snapshots").resolve(checkpoint.checkpointId());
            try (Stream<Path> taken = Files.list(snapshots)) {
                assertThat(taken).as("snapshots of the shared file on the export").hasSize(1);
            }
            Files.writeString(shared, "after the checkpoint", StandardOpenOption.APPEND);
            cluster.killApplications();

            RestoreResult restored = new RestoreOperation(cluster.coordinator(), RestoreOptions.defaults()
                    .withAllowRoot(true), OperationListener.SILENT).run("app");

            assertThat(SnapshotRestoreTest.digests(exportSource).get("shared.db")).isEqualTo(atCheckpoint);
            ProcLocksSnapshot.FileId inode = ProcLocksSnapshot.fileIdOf(shared);
            for (String host : List.of("h1", "h2")) {
                int pid = restored.processesByHost().get(host).stream().mapToInt(StagedProcess::getNewPid)
                        .findFirst().orElseThrow();
                await("the program restarted on " + host + " holds its lock on the rolled-back file")
                        .atMost(Duration.ofSeconds(30))
                        .until(() -> ProcLocksSnapshot.read().heldBy(pid).stream().anyMatch(l -> inode.lockedBy(l)));
            }

            Catalog.Deleted deleted = new Catalog(cluster.coordinator()).delete("app", checkpoint.checkpointId());

            String taker = byHost.get("h1").getTakenByAnotherHost() ? "h2" : "h1";
            assertThat(deleted.snapshots().deleted()).singleElement().asString()
                    .startsWith("checkpoint " + checkpoint.checkpointId() + " on host " + taker + ": ");
            assertThat(snapshots).doesNotExist();
            Invariants.assertAll(cluster);
            cluster.killApplications();
            cluster.close();
            cluster = null;
        }
    }

    @Test
    void aCopySnapshotOfAnExportIsRolledBackByTheHostThatTookItWhenTheRestoreMapsItsProcessesElsewhere()
            throws Exception {
        cluster = LocalCluster.start();
        Path exportSource = cluster.mountExport("export-src");
        Path data = SnapshotRestoreTest.writeData(exportSource.resolve("data"));
        Path onH1 = cluster.dir().resolve("mnt-h1");
        Path onH2 = cluster.dir().resolve("mnt-h2");
        cluster.startAgentProcessWithExportAt("h1", exportSource, onH1);
        cluster.startAgentProcessWithExportAt("h2", exportSource, onH2);
        checkpointChangeAndRestoreOnH2(data, onH1, (checkpointId, snapshot) -> {
            assertThat(snapshot.getEngine()).as("tmpfs cannot clone").isEqualTo("copy");
            assertThat(snapshot.hasDataPathIdentity()).isTrue();
        });
    }

    @Test
    void aFileOnlyHeldOpenOnAnotherHostInsideTheDeclaredDataPathIsPutBackByThatPathsRollBack() throws Exception {
        cluster = LocalCluster.start();
        Path exportSource = cluster.mountExport("export-src");
        Path data = SnapshotRestoreTest.writeData(exportSource.resolve("data"));
        Files.writeString(data.resolve("notes"), "a note before the checkpoint\n");
        Path onH1 = cluster.dir().resolve("mnt-h1");
        Path onH2 = cluster.dir().resolve("mnt-h2");
        cluster.startAgentProcessWithExportAt("h1", exportSource, onH1);
        cluster.startAgentProcessWithExportAt("h2", exportSource, onH2);
        // Declared as h1 sees it; h1, the lowest-named member, snapshots the shared export's data path.
        new DataPaths(cluster.coordinator().zk(), cluster.layout()).put("app",
                DataPathRecord.newBuilder().setPath(onH1.resolve("data").toString()).build());
        int holder = cluster.run("h1", "app", LocalCluster.worker("fd", "500", onH1.resolve("data/state.db").toString(),
                "lock", "posix", "write", "500", "0", "100", "ready", "sleep"));
        // h2's process only holds data/notes open, through h2's own mount: h2's manifest records the file (size,
        // mtime) and has no snapshot of its own (tmpfs cannot clone a held file).
        int writer = cluster.run("h2", "app", LocalCluster.worker("fd", "501", onH2.resolve("data/notes").toString(),
                "ready", "sleep"));
        cluster.awaitReady("h1", "app", holder);
        cluster.awaitReady("h2", "app", writer);
        Map<String, String> atCheckpoint = SnapshotRestoreTest.digests(data);
        CheckpointResult checkpoint = new CheckpointOperation(cluster.coordinator(), CheckpointOptions.defaults(),
                OperationListener.SILENT).run("app");
        assertThat(checkpoint.hosts()).containsExactly("h1", "h2");
        Files.writeString(data.resolve("notes"), "a note after the checkpoint\n", StandardOpenOption.APPEND);
        cluster.killApplications();

        // Without the other manifest's snapshot, h2's validation would refuse notes ("size drift").
        RestoreResult restored = new RestoreOperation(cluster.coordinator(), RestoreOptions.defaults()
                .withAllowRoot(true), OperationListener.SILENT).run("app");

        assertThat(restored.processesByHost()).containsOnlyKeys("h1", "h2");
        assertThat(SnapshotRestoreTest.digests(data)).as("sha256 of every file, notes too, after the restore")
                .isEqualTo(atCheckpoint);
        Invariants.assertAll(cluster);
    }

    /**
     * The two --map h1=h2 restores: declares {@code onH1/data} (h1's mount of the export holding {@code data}), runs a
     * lock holder there on h1, checkpoints, lets {@code checkSnapshot} look at the snapshot h1 recorded, changes the
     * files and kills the application, restores onto h2; then every file has its checkpoint content and the holder
     * restarted on h2 holds its lock on the rolled-back file.
     */
    private void checkpointChangeAndRestoreOnH2(Path data, Path onH1, BiConsumer<String, SnapshotRecord> checkSnapshot)
            throws Exception {
        new DataPaths(cluster.coordinator().zk(), cluster.layout()).put("app",
                DataPathRecord.newBuilder().setPath(onH1.resolve("data").toString()).build());
        int holder = cluster.run("h1", "app", LocalCluster.worker("fd", "500", onH1.resolve("data/state.db").toString(),
                "lock", "posix", "write", "500", "0", "100", "ready", "sleep"));
        cluster.awaitReady("h1", "app", holder);
        Map<String, String> atCheckpoint = SnapshotRestoreTest.digests(data);
        CheckpointResult checkpoint = new CheckpointOperation(cluster.coordinator(), CheckpointOptions.defaults(),
                OperationListener.SILENT).run("app");
        CatalogManifest stored = checkpoint.catalogEntry().getManifests(0);
        checkSnapshot.accept(checkpoint.checkpointId(), ManifestCodec.decode(cluster.coordinator().store().readVerified(
                "app", checkpoint.checkpointId(), "h1", stored.getSha256(), stored.getSize())).getSnapshots(0));
        SnapshotRestoreTest.changeAfterCheckpoint(data);
        cluster.killApplications();
        await("the holder is gone").atMost(Duration.ofSeconds(10)).until(() -> ProcessHandle.of(holder).isEmpty());

        RestoreResult restored = new RestoreOperation(cluster.coordinator(), RestoreOptions.defaults()
                .withAllowRoot(true).withHostMap(Map.of("h1", "h2")), OperationListener.SILENT).run("app");

        assertThat(SnapshotRestoreTest.digests(data)).as("sha256 of every file after the restore on h2")
                .isEqualTo(atCheckpoint);
        int newHolder = restored.processesByHost().get("h2").stream().mapToInt(StagedProcess::getNewPid)
                .findFirst().orElseThrow();
        ProcLocksSnapshot.FileId inode = ProcLocksSnapshot.fileIdOf(data.resolve("state.db"));
        await("the holder restarted on h2 holds its lock on the rolled-back file").atMost(Duration.ofSeconds(30))
                .until(() -> ProcLocksSnapshot.read().heldBy(newHolder).stream().anyMatch(l -> inode.lockedBy(l)));
        Invariants.assertAll(cluster);
    }
}
