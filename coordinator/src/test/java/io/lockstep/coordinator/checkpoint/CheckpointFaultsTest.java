package io.lockstep.coordinator.checkpoint;

import io.lockstep.coordinator.op.CheckpointResult;
import io.lockstep.coordinator.op.FailureReason;
import io.lockstep.coordinator.op.OperationFailedException;
import io.lockstep.coordinator.op.OperationListener;
import io.lockstep.coordinator.testing.Invariants;
import io.lockstep.coordinator.testing.LocalCluster;
import io.lockstep.coordinator.testing.PausingCoordinator;
import io.lockstep.coordinator.agents.AgentCallException;
import io.lockstep.proto.FreezeRequest;
import io.lockstep.proto.OpContext;
import io.lockstep.zk.Decision;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;
import org.junit.jupiter.api.Test;

import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.awaitility.Awaitility.await;

/**
 * Checkpoints that go wrong, with agents and coordinators as separate JVMs where a crash must be
 * real: after each, nothing is frozen and ZooKeeper's decision tells the truth.
 */
class CheckpointFaultsTest {
    private LocalCluster cluster;
    private Process coordinator;

    @AfterEach
    void tearDown() throws Exception {
        if (coordinator != null) {
            coordinator.destroyForcibly().waitFor();
        }
        if (cluster != null) {
            cluster.close();
        }
    }

    private int startTicker(String host, String group) throws Exception {
        Path counter = cluster.dir().resolve("counter-" + host + "-" + group);
        int pid = cluster.run(host, group, LocalCluster.worker("ready", "tick", counter.toString()));
        cluster.awaitReady(host, group, pid);
        return pid;
    }

    /** Only h2 is killed: it runs as its own JVM, h1 and h3 in this one (an agent JVM start is seconds of CPU). */
    @Test
    void anAgentInItsOwnProcessCommitsAndOnceKilledAbortsTheNextCheckpoint() throws Exception {
        cluster = LocalCluster.start("h1", "h3");
        cluster.startAgentProcess("h2");
        for (String host : List.of("h1", "h2", "h3")) {
            startTicker(host, "app");
        }
        CheckpointResult committed = new CheckpointOperation(cluster.coordinator(), CheckpointOptions.defaults(),
                OperationListener.SILENT).run("app");
        assertThat(committed.hosts()).containsExactly("h1", "h2", "h3");
        Invariants.assertAll(cluster);

        // SIGKILL: the agent's session (and membership) outlives it until the session times out.
        cluster.killAgentProcess("h2");
        assertThatThrownBy(() -> new CheckpointOperation(cluster.coordinator(), CheckpointOptions.defaults(),
                OperationListener.SILENT).run("app"))
                .isInstanceOfSatisfying(OperationFailedException.class, e -> {
                    assertThat(e.reason()).isEqualTo(FailureReason.AGENT_UNAVAILABLE);
                    assertThat(e.hostId()).contains("h2");
                });
        Invariants.assertAll(cluster);
        assertThat(Invariants.decisions(cluster, "app")).containsExactly(Decision.commit(),
                Invariants.decisions(cluster, "app").get(1));
        assertThat(Invariants.decisions(cluster, "app").get(1).isCommit()).isFalse();
    }

    @Test
    void anAgentKilledWhileItsGroupIsFrozenLeavesItToTheGuardWhichThawsIt() throws Exception {
        cluster = LocalCluster.start("h1");
        cluster.startAgentProcess("h2");
        startTicker("h1", "app");
        startTicker("h2", "app");
        OperationListener killH2AfterFreeze = new OperationListener() {
            @Override
            public void phaseEnded(String phase, long micros) {
                if (phase.equals("freeze")) {
                    try {
                        cluster.killAgentProcess("h2");
                    } catch (InterruptedException e) {
                        Thread.currentThread().interrupt();
                    }
                }
            }
        };
        // Max frozen: just above what the agents allow at least (session timeout plus margins).
        CheckpointOptions shortMaxFrozen = new CheckpointOptions(Duration.ofSeconds(30), Duration.ofSeconds(10),
                Duration.ofSeconds(8), Duration.ofSeconds(10));
        assertThatThrownBy(() -> new CheckpointOperation(cluster.coordinator(), shortMaxFrozen, killH2AfterFreeze).run("app"))
                .isInstanceOfSatisfying(OperationFailedException.class, e -> assertThat(e.hostId()).contains("h2"));
        // h2's agent is gone for good: only its external guard can thaw h2's group.
        assertThat(cluster.cgroups("h2").forGroup("app").isFrozen()).isTrue();
        Invariants.assertNothingFrozen(cluster);
        assertThat(Invariants.decisions(cluster, "app")).hasSize(1).allMatch(d -> !d.isCommit());
    }

    @ParameterizedTest
    @ValueSource(strings = {"freeze", "capture", "commit"})
    void aCoordinatorKilledAfterAPhaseLeavesAgentsToThawOnTheirOwnAndTheDecisionTellsTheTruth(String phase)
            throws Exception {
        cluster = LocalCluster.start("h1", "h2");
        startTicker("h1", "app");
        startTicker("h2", "app");
        Path out = cluster.dir().resolve("coordinator.out");
        coordinator = new ProcessBuilder(PausingCoordinator.command(cluster, "app", phase, false)).redirectErrorStream(true)
                .redirectOutput(out.toFile()).start();
        await("coordinator reaches the end of " + phase).atMost(Duration.ofSeconds(60))
                .until(() -> Files.readString(out).contains("PAUSED " + phase) || !coordinator.isAlive());
        assertThat(coordinator.isAlive()).as(Files.readString(out)).isTrue();
        if (!phase.equals("commit")) {
            // The window does not wait for the coordinator: the hosts capture on all-frozen and thaw on
            // all-captured, which the hosts whose entries completed the barriers created.
            await("the hosts end the frozen window without the coordinator").atMost(Duration.ofSeconds(20))
                    .until(() -> Invariants.frozenState(cluster, "app").equals(
                            java.util.Map.of("h1", false, "h2", false)));
        }
        coordinator.destroyForcibly().waitFor();

        Invariants.assertNothingFrozen(cluster);
        // Thawed already, the agents still watch the op: its owner node goes with the dead
        // coordinator's session, and they decide ABORT.
        await("the op is decided").atMost(Duration.ofSeconds(30))
                .until(() -> !Invariants.decisions(cluster, "app").isEmpty());
        List<Decision> decisions = Invariants.decisions(cluster, "app");
        assertThat(decisions).hasSize(1);
        if (phase.equals("commit")) {
            assertThat(decisions.get(0)).isEqualTo(Decision.commit());
        } else {
            assertThat(decisions.get(0).isCommit()).isFalse();
            assertThat(decisions.get(0).reason()).contains("owner node gone");
        }
        Invariants.assertAll(cluster);
    }

    @Test
    void anAgentRejectsAStaleCoordinatorsEpoch() throws Exception {
        cluster = LocalCluster.start("h1");
        startTicker("h1", "app");
        CheckpointResult first = new CheckpointOperation(cluster.coordinator(), CheckpointOptions.defaults(),
                OperationListener.SILENT).run("app");
        new CheckpointOperation(cluster.coordinator(), CheckpointOptions.defaults(), OperationListener.SILENT).run("app");

        OpContext stale = OpContext.newBuilder().setGroup("app").setOpId(first.checkpointId()).setEpoch(first.epoch()).build();
        var agent = cluster.coordinator().clients().forHost(cluster.coordinator().directory().host("h1").orElseThrow());
        assertThatThrownBy(() -> agent.freeze(FreezeRequest.newBuilder().setCtx(stale)
                .setDeadlineUnixMs(System.currentTimeMillis() + 5000).setMaxFrozenMs(30000).build(), Duration.ofSeconds(10)))
                .isInstanceOfSatisfying(AgentCallException.class, e -> {
                    assertThat(e.isStaleEpoch()).isTrue();
                    assertThat(e.getMessage()).contains("h1").contains("stale epoch " + first.epoch());
                });
        Invariants.assertAll(cluster);
    }
}
