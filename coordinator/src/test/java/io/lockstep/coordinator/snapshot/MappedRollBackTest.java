package io.lockstep.coordinator.snapshot;

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
import java.time.Duration;
import java.util.List;
import java.util.Map;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

/**
 * Roll-back on a restore onto another host (--map h1=h2): the snapshot of a data path on a shared export is
 * rolled back by the target host's agent, which finds the data path and the snapshot through its own mount of
 * the export (mounted elsewhere than on h1). The export is XFS with reflink=1 on a loop device, mounted from a
 * device node named {@code localhost:/export} and counted as a network file system, each simulated host
 * seeing it through a bind mount in a mount namespace of its own.
 */
class MappedRollBackTest {
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

    @Test
    void theTargetHostRollsBackTheSnapshotOnTheSharedExportThroughItsOwnMountAndTheProgramRestartsThere()
            throws Exception {
        cluster = LocalCluster.start();
        Path exportSource = Files.createDirectories(cluster.dir().resolve("export-src"));
        try (LoopMount xfs = LoopMount.makeAsExport(cluster.dir().resolve("export.img"), exportSource,
                cluster.dir().resolve("names"), "localhost", "mkfs.xfs", "-q", "-m", "reflink=1")) {
            Path data = SnapshotRestoreTest.writeData(exportSource.resolve("data"));
            Path onH1 = cluster.dir().resolve("mnt-h1");
            Path onH2 = cluster.dir().resolve("mnt-h2");
            startAgentSeeingExportAt("h1", exportSource, onH1);
            startAgentSeeingExportAt("h2", exportSource, onH2);
            new DataPaths(cluster.coordinator().zk(), cluster.layout()).put("app",
                    DataPathRecord.newBuilder().setPath(onH1.resolve("data").toString()).build());
            int holder = cluster.run("h1", "app", LocalCluster.worker("fd", "500", onH1.resolve("data/state.db").toString(),
                    "lock", "posix", "write", "500", "0", "100", "ready", "sleep"));
            cluster.awaitReady("h1", "app", holder);
            Map<String, String> atCheckpoint = SnapshotRestoreTest.digests(data);

            CheckpointResult checkpoint = new CheckpointOperation(cluster.coordinator(), CheckpointOptions.defaults(),
                    OperationListener.SILENT).run("app");

            CatalogManifest stored = checkpoint.catalogEntry().getManifests(0);
            SnapshotRecord snapshot = ManifestCodec.decode(cluster.coordinator().store().readVerified("app",
                    checkpoint.checkpointId(), "h1", stored.getSha256(), stored.getSize())).getSnapshots(0);
            assertThat(snapshot.getEngine()).isEqualTo("reflink");
            assertThat(snapshot.getDataPath()).isEqualTo(onH1.resolve("data").toString());
            assertThat(snapshot.getDataPathIdentity().getKind()).isEqualTo(IdentityKind.NETWORK);
            assertThat(snapshot.getDataPathIdentity().getSource()).isEqualTo("localhost:/export");
            assertThat(snapshot.getDataPathIdentity().getRelativePath()).isEqualTo("data");
            assertThat(snapshot.getLocationIdentity().getRelativePath())
                    .startsWith(".lockstep-snapshots/" + checkpoint.checkpointId() + "/");
            SnapshotRestoreTest.changeAfterCheckpoint(data);
            cluster.killApplications();
            await("the holder is gone").atMost(Duration.ofSeconds(10)).until(() -> ProcessHandle.of(holder).isEmpty());

            RestoreResult restored = new RestoreOperation(cluster.coordinator(), RestoreOptions.defaults()
                    .withAllowRoot(true).withHostMap(Map.of("h1", "h2")), OperationListener.SILENT).run("app");

            assertThat(SnapshotRestoreTest.digests(data)).as("sha256 of every file after the restore on h2")
                    .isEqualTo(atCheckpoint);
            int newHolder = restored.processesByHost().get("h2").stream().mapToInt(StagedProcess::getNewPid)
                    .findFirst().orElseThrow();
            long inode = ProcLocksSnapshot.inodeOf(data.resolve("state.db"));
            await("the holder restarted on h2 holds its lock on the rolled-back file").atMost(Duration.ofSeconds(30))
                    .until(() -> ProcLocksSnapshot.read().heldBy(newHolder).stream().anyMatch(l -> l.inode() == inode));
            Invariants.assertAll(cluster);
            cluster.killApplications();
            cluster.close();
            cluster = null;
        }
    }
}
