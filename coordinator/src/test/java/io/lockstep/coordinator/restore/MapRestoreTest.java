package io.lockstep.coordinator.restore;

import io.lockstep.coordinator.op.RestoreResult;
import io.lockstep.manifest.ManifestCodec;
import io.lockstep.coordinator.checkpoint.CheckpointOperation;
import io.lockstep.coordinator.checkpoint.CheckpointOptions;
import io.lockstep.coordinator.op.CheckpointResult;
import io.lockstep.coordinator.op.OperationListener;
import io.lockstep.coordinator.testing.Invariants;
import io.lockstep.coordinator.testing.LocalCluster;
import io.lockstep.coordinator.testing.ProcLocksSnapshot;
import io.lockstep.proto.CatalogManifest;
import io.lockstep.proto.IdentityKind;
import io.lockstep.proto.LockRecord;
import io.lockstep.proto.Manifest;
import io.lockstep.proto.StagedProcess;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Map;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

/**
 * Restore onto another host that mounts the shared export at another path: agents in mount
 * namespaces of their own, the export a tmpfs whose source reads server:/export (there is no NFS
 * client here; the agents count tmpfs as a network file system, the same code path as nfs4).
 */
class MapRestoreTest {
    private LocalCluster cluster;
    private Path exportSource;

    @AfterEach
    void tearDown() throws Exception {
        if (cluster != null) {
            cluster.close();
        }
    }

    @Test
    void processesOfOneHostRestoreOnAnotherThatMountsTheExportElsewhereFoundByIdentity() throws Exception {
        cluster = LocalCluster.start();
        exportSource = cluster.mountExport("export-src");
        Path onH1 = cluster.dir().resolve("mnt-h1");
        Path onH2 = cluster.dir().resolve("mnt-h2");
        cluster.startAgentProcessWithExportAt("h1", exportSource, onH1);
        cluster.startAgentProcessWithExportAt("h2", exportSource, onH2);

        int p1 = cluster.run("h1", "app", LocalCluster.worker("fd", "500", onH1.resolve("data").toString(),
                "lock", "posix", "write", "500", "0", "10", "ready", "sleep"));
        cluster.awaitReady("h1", "app", p1);
        CheckpointResult checkpoint = new CheckpointOperation(cluster.coordinator(), CheckpointOptions.defaults(),
                OperationListener.SILENT).run("app");
        CatalogManifest stored = checkpoint.catalogEntry().getManifests(0);
        Manifest manifest = ManifestCodec.decode(cluster.coordinator().store().readVerified("app",
                checkpoint.checkpointId(), "h1", stored.getSha256(), stored.getSize()));
        LockRecord lock = manifest.getProcesses(0).getLocks(0);
        assertThat(lock.getIdentity().getKind()).isEqualTo(IdentityKind.NETWORK);
        assertThat(lock.getIdentity().getSource()).isEqualTo(cluster.exportServer());
        assertThat(lock.getIdentity().getRelativePath()).isEqualTo("data");
        cluster.killApplications();

        RestoreResult restored = new RestoreOperation(cluster.coordinator(), RestoreOptions.defaults()
                .withAllowRoot(true).withHostMap(Map.of("h1", "h2")), OperationListener.SILENT).run("app");

        assertThat(restored.processesByHost()).containsOnlyKeys("h2");
        int q1 = restored.processesByHost().get("h2").stream().mapToInt(StagedProcess::getNewPid).findFirst().orElseThrow();
        Path fd500 = Path.of("/proc", Integer.toString(q1), "fd", "500");
        // Release returns once the stub execs; while the kernel replaces a multi-threaded image the
        // old leader thread is a zombie and its fd directory reads as absent for a moment.
        await("restored pid " + q1 + " runs its restart command with fd 500").atMost(Duration.ofSeconds(30))
                .until(() -> Files.exists(fd500, LinkOption.NOFOLLOW_LINKS) || !ProcessHandle.of(q1).isPresent());
        assertThat(ProcessHandle.of(q1)).as("restored process " + q1).isPresent();
        assertThat(Files.readSymbolicLink(fd500))
                .as("the restored fd, opened through h2's own mount of the export").isEqualTo(onH2.resolve("data"));
        long inode = ((Number) Files.getAttribute(exportSource.resolve("data"), "unix:ino")).longValue();
        assertThat(ProcLocksSnapshot.read().heldBy(q1)).anySatisfy(held -> {
            assertThat(held.inode()).isEqualTo(inode);
            assertThat(held.type()).isEqualTo("WRITE");
            assertThat(held.end()).isEqualTo(9);
        });
        Invariants.assertAll(cluster);
    }
}
