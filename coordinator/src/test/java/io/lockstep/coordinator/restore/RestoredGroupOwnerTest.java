package io.lockstep.coordinator.restore;

import io.lockstep.coordinator.checkpoint.CheckpointOperation;
import io.lockstep.coordinator.checkpoint.CheckpointOptions;
import io.lockstep.coordinator.op.CheckpointResult;
import io.lockstep.coordinator.op.OperationListener;
import io.lockstep.coordinator.op.RestoreResult;
import io.lockstep.coordinator.testing.Invariants;
import io.lockstep.coordinator.testing.LocalCluster;
import io.lockstep.manifest.ManifestCodec;
import io.lockstep.proto.CatalogManifest;
import io.lockstep.proto.Manifest;
import io.lockstep.proto.StagedProcess;
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
 * A group belongs to the uid that created it (the agent's {@code <state>/groups/<group>/owner}).
 * A checkpoint records that owner in each manifest, and a restore onto a host where the group never
 * existed creates it there with the same owner, not as root's. The group on h1 is nobody's: its
 * owner record is written as the agent writes it when nobody creates the group through the local
 * socket (AccessControlTest covers that path), before the group exists.
 */
class RestoredGroupOwnerTest {
    private static final int NOBODY = 65534;
    private static final List<String> WORKER = List.of("/usr/bin/python3", "-c", String.join("\n",
            "import os, time",
            "print('READY restored=' + os.environ.get('LOCKSTEP_RESTORED', '0'), flush=True)",
            "while True:",
            "    time.sleep(1)"));

    private LocalCluster cluster;

    @AfterEach
    void tearDown() throws Exception {
        if (cluster != null) {
            cluster.close();
        }
    }

    private Path ownerRecord(String host) {
        return cluster.agentConfig(host).stateDir().resolve("groups").resolve("app").resolve("owner");
    }

    @Test
    void aGroupRestoredOntoAHostWhereItNeverExistedBelongsToItsRecordedOwner() throws Exception {
        cluster = LocalCluster.start("h1", "h2");
        Files.createDirectories(ownerRecord("h1").getParent());
        Files.writeString(ownerRecord("h1"), NOBODY + "\n");
        int pid = cluster.runAs("h1", "app", NOBODY, NOBODY, WORKER);
        cluster.awaitReady("h1", "app", pid);

        CheckpointResult checkpoint = new CheckpointOperation(cluster.coordinator(), CheckpointOptions.defaults(),
                OperationListener.SILENT).run("app");
        CatalogManifest stored = checkpoint.catalogEntry().getManifests(0);
        Manifest manifest = ManifestCodec.decode(cluster.coordinator().store().readVerified("app",
                checkpoint.checkpointId(), "h1", stored.getSha256(), stored.getSize()));
        assertThat(manifest.hasGroupOwnerUid()).as("the manifest records the group's owner").isTrue();
        assertThat(manifest.getGroupOwnerUid()).isEqualTo(NOBODY);
        cluster.killApplications();
        assertThat(ownerRecord("h2")).as("group app never existed on h2").doesNotExist();

        RestoreResult restored = new RestoreOperation(cluster.coordinator(), RestoreOptions.defaults()
                .withHostMap(Map.of("h1", "h2")), OperationListener.SILENT).run("app");

        int newPid = restored.processesByHost().get("h2").stream().filter(p -> p.getOldPid() == pid)
                .mapToInt(StagedProcess::getNewPid).findFirst().orElseThrow();
        await("restored pid " + newPid + " on h2 runs").atMost(Duration.ofSeconds(30))
                .until(() -> cluster.output("h2", "app", newPid).contains("READY restored=1"));
        assertThat(Files.readString(ownerRecord("h2")).strip()).as("owner of group app on h2")
                .isEqualTo(Integer.toString(NOBODY));
        Invariants.assertAll(cluster);
    }
}
