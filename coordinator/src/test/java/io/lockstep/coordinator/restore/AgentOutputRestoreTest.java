package io.lockstep.coordinator.restore;

import io.lockstep.coordinator.op.RestoreResult;
import io.lockstep.manifest.ManifestCodec;
import io.lockstep.coordinator.checkpoint.CheckpointOperation;
import io.lockstep.coordinator.checkpoint.CheckpointOptions;
import io.lockstep.coordinator.op.CheckpointResult;
import io.lockstep.coordinator.op.OperationListener;
import io.lockstep.coordinator.testing.Invariants;
import io.lockstep.coordinator.testing.LocalCluster;
import io.lockstep.proto.CatalogManifest;
import io.lockstep.proto.FdRecord;
import io.lockstep.proto.Manifest;
import io.lockstep.proto.StagedProcess;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Map;


import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

/**
 * The output file `agent run` creates for each process is the agent's, not the application's:
 * a checkpoint marks it, and a restore (same host or another) gives the restarted program a fresh
 * one on the target host, owned by the program's uid, without --force.
 */
class AgentOutputRestoreTest {
    private static final int NOBODY = 65534;
    /**
     * Keeps writing after the checkpoint, so the recorded output file drifts in size and mtime.
     * One process (no child without a restart spec), readable by nobody.
     */
    private static final List<String> CHATTY = List.of("/usr/bin/python3", "-c", String.join("\n",
            "import os, sys, time",
            "print('READY restored=' + os.environ.get('LOCKSTEP_RESTORED', '0'), flush=True)",
            "while True:",
            "    print('tick', flush=True)",
            "    time.sleep(0.1)"));

    private LocalCluster cluster;

    @AfterEach
    void tearDown() throws Exception {
        if (cluster != null) {
            cluster.close();
        }
    }

    @Test
    void programsStartedWithAgentRunRestoreOnSwappedHostsAsNobodyWithoutForce() throws Exception {
        cluster = LocalCluster.start("h1", "h2");
        int onH1 = cluster.runAs("h1", "app", NOBODY, NOBODY, CHATTY);
        int onH2 = cluster.runAs("h2", "app", NOBODY, NOBODY, CHATTY);
        cluster.awaitReady("h1", "app", onH1);
        cluster.awaitReady("h2", "app", onH2);
        CheckpointResult checkpoint = checkpoint();
        assertOutputMarkedAgentOwned(checkpoint, "h1", onH1);
        cluster.killApplications();

        RestoreResult restored = new RestoreOperation(cluster.coordinator(), RestoreOptions.defaults()
                .withHostMap(Map.of("h1", "h2", "h2", "h1")), OperationListener.SILENT).run("app");

        assertRestartedWithFreshOutput("h2", newPid(restored, "h2", onH1));
        assertRestartedWithFreshOutput("h1", newPid(restored, "h1", onH2));
        Invariants.assertAll(cluster);
    }

    @Test
    void aNonRootProgramWhoseOutputGrewSinceTheCheckpointRestoresOnItsHostWithoutForce() throws Exception {
        cluster = LocalCluster.start("h1");
        int pid = cluster.runAs("h1", "app", NOBODY, NOBODY, CHATTY);
        cluster.awaitReady("h1", "app", pid);
        checkpoint();
        long recordedSize = Files.size(cluster.outputLog("h1", "app", pid));
        await("pid " + pid + " writes after the checkpoint").atMost(Duration.ofSeconds(30))
                .until(() -> Files.size(cluster.outputLog("h1", "app", pid)) > recordedSize);
        cluster.killApplications();

        RestoreResult restored = new RestoreOperation(cluster.coordinator(), RestoreOptions.defaults(),
                OperationListener.SILENT).run("app");

        assertRestartedWithFreshOutput("h1", newPid(restored, "h1", pid));
        Invariants.assertAll(cluster);
    }

    private CheckpointResult checkpoint() throws Exception {
        return new CheckpointOperation(cluster.coordinator(), CheckpointOptions.defaults(), OperationListener.SILENT)
                .run("app");
    }

    private void assertOutputMarkedAgentOwned(CheckpointResult checkpoint, String host, int pid) throws Exception {
        CatalogManifest stored = checkpoint.catalogEntry().getManifestsList().stream()
                .filter(m -> m.getHostId().equals(host)).findFirst().orElseThrow();
        Manifest manifest = ManifestCodec.decode(cluster.coordinator().store().readVerified("app",
                checkpoint.checkpointId(), host, stored.getSha256(), stored.getSize()));
        List<FdRecord> fds = manifest.getProcessesList().stream().filter(p -> p.getPid() == pid).findFirst()
                .orElseThrow().getFdsList();
        assertThat(fds).filteredOn(FdRecord::getAgentOutput).extracting(FdRecord::getFd)
                .as("fds of pid " + pid + " on the agent's output file").containsExactlyInAnyOrder(1, 2);
    }

    private void assertRestartedWithFreshOutput(String host, int pid) throws Exception {
        Path log = cluster.outputLog(host, "app", pid);
        await("restored pid " + pid + " on " + host + " writes to a fresh output file").atMost(Duration.ofSeconds(30))
                .until(() -> cluster.output(host, "app", pid).contains("READY restored=1")
                        || !ProcessHandle.of(pid).isPresent());
        assertThat(ProcessHandle.of(pid)).as("restored process " + pid + " on " + host).isPresent();
        assertThat(cluster.output(host, "app", pid)).as("the fresh output file holds only the restarted program's output")
                .startsWith("READY restored=1");
        assertThat(Files.readSymbolicLink(Path.of("/proc", Integer.toString(pid), "fd", "1"))).isEqualTo(log.toRealPath());
        assertThat(Files.getAttribute(log, "unix:uid", LinkOption.NOFOLLOW_LINKS)).isEqualTo(NOBODY);
    }

    private static int newPid(RestoreResult result, String host, int oldPid) {
        return result.processesByHost().get(host).stream().filter(p -> p.getOldPid() == oldPid)
                .mapToInt(StagedProcess::getNewPid).findFirst().orElseThrow();
    }
}
