package io.lockstep.coordinator.restore;

import io.lockstep.coordinator.checkpoint.CheckpointOperation;
import io.lockstep.coordinator.checkpoint.CheckpointOptions;
import io.lockstep.coordinator.op.OperationListener;
import io.lockstep.coordinator.op.RestoreResult;
import io.lockstep.coordinator.testing.GroupUsable;
import io.lockstep.coordinator.testing.Invariants;
import io.lockstep.coordinator.testing.LocalCluster;
import io.lockstep.coordinator.testing.ProcLocksSnapshot;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.atomic.AtomicBoolean;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

/**
 * An agent that dies between its confirm answer and the commit: its prepared/<host> node outlives
 * it by a session timeout, so the restore commits. Its prepared stub keeps its lock while no agent
 * runs, and the restarted agent, reading COMMIT, records the restart spec and lets the stub become
 * its program, which holds the lock it held at the checkpoint. The agent is a JVM of its own,
 * SIGKILLed. A process that holds no lock is restored the same way: its stub gets an empty round.
 */
class PreparedStubsSurviveTheirAgentTest {
    private LocalCluster cluster;

    @AfterEach
    void tearDown() throws Exception {
        if (cluster != null) {
            cluster.close();
        }
    }

    @Test
    void aPreparedStubKeepsItsLockWhileItsAgentIsDeadAndTheRestartedAgentReleasesItOnTheCommit() throws Exception {
        cluster = LocalCluster.start();
        cluster.startAgentProcess("h2");
        Path data = Files.writeString(cluster.dir().resolve("survivor-data"), "0123456789");
        int holder = cluster.run("h2", "app", LocalCluster.worker("fd", "500", data.toString(),
                "lock", "posix", "write", "500", "0", "10", "ready", "sleep"));
        cluster.awaitReady("h2", "app", holder);
        // holds nothing, so its stub has no lock to take: it must outlive the agent all the same
        int idle = cluster.run("h2", "app", LocalCluster.worker("ready", "sleep"));
        cluster.awaitReady("h2", "app", idle);
        new CheckpointOperation(cluster.coordinator(), CheckpointOptions.defaults(), OperationListener.SILENT).run("app");
        cluster.killApplications();
        ProcLocksSnapshot.FileId inode = ProcLocksSnapshot.fileIdOf(data);
        await("the checkpointed holder's lock is gone with it").atMost(Duration.ofSeconds(20))
                .until(() -> !ProcLocksSnapshot.heldOn(inode));

        AtomicBoolean killed = new AtomicBoolean();
        OperationListener killAfterConfirm = new OperationListener() {
            @Override
            public void hostDone(String phase, String hostId, int done, int total, String detail) {
                if (phase.equals("confirm") && hostId.equals("h2") && killed.compareAndSet(false, true)) {
                    try {
                        cluster.killAgentProcess("h2");
                    } catch (InterruptedException e) {
                        Thread.currentThread().interrupt();
                    }
                }
            }
        };
        RestoreResult restored = new RestoreOperation(cluster.coordinator(), RestoreOptions.defaults()
                .withAllowRoot(true), killAfterConfirm).run("app");

        assertThat(killed).isTrue();
        assertThat(restored.releaseFailures()).as("h2's agent was dead when the coordinator released").containsKey("h2");
        List<Long> stubs = Invariants.stubPids(cluster);
        assertThat(stubs).as("h2's stubs, the lock holder's and the lockless one's, outlived their agent").hasSize(2);
        ProcLocksSnapshot whileDead = ProcLocksSnapshot.read();
        int survivor = stubs.stream().filter(pid -> !whileDead.heldBy(pid.intValue()).isEmpty()).findFirst()
                .orElseThrow(() -> new AssertionError("no surviving stub holds the lock: " + stubs)).intValue();
        int idleSurvivor = stubs.stream().filter(pid -> pid != survivor).findFirst().orElseThrow().intValue();
        assertThat(whileDead.heldBy(survivor)).as("the surviving stub's locks").hasSize(1);

        cluster.startAgentProcess("h2");

        cluster.awaitReady("h2", "app", survivor);
        cluster.awaitReady("h2", "app", idleSurvivor);
        assertThat(ProcessHandle.of(idleSurvivor)).as("the lockless process restored by the restarted agent").isPresent();
        assertThat(ProcLocksSnapshot.read().heldBy(survivor)).as("the restored program's locks").hasSize(1);
        Invariants.assertAll(cluster);
        GroupUsable.checkpointCommits(cluster, "app");
    }
}
