package io.lockstep.coordinator.checkpoint;

import io.lockstep.coordinator.op.CheckpointResult;
import io.lockstep.coordinator.agents.AgentCallException;
import io.lockstep.coordinator.agents.AgentClient;
import io.lockstep.coordinator.op.OperationListener;
import io.lockstep.coordinator.testing.HeldCapture;
import io.lockstep.coordinator.testing.Invariants;
import io.lockstep.coordinator.testing.LocalCluster;
import io.lockstep.proto.OpContext;
import io.lockstep.proto.ThawReply;
import io.lockstep.proto.ThawRequest;
import io.grpc.Status;
import io.lockstep.zk.Phase;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicReference;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

/**
 * What a Thaw RPC answers (its thawed-at time ends the reported frozen window), over real agents
 * and real frozen cgroups: the moment the group actually thawed, also when the agent's watchdog
 * thawed it on the decision before the RPC came; and no thaw before a decision.
 */
class ThawReplyTest {
    private static final Duration RPC_TIMEOUT = Duration.ofSeconds(10);
    private LocalCluster cluster;

    @AfterEach
    void tearDown() throws Exception {
        if (cluster != null) {
            cluster.close();
        }
    }

    @Test
    void aThawAfterTheGroupThawedReportsWhenItThawedNotWhenItWasAsked() throws Exception {
        cluster = LocalCluster.start("h1", "h2");
        startTicker("h1");
        startTicker("h2");
        long runStarted = nowMicros();
        CheckpointResult result = new CheckpointOperation(cluster.coordinator(), CheckpointOptions.defaults(),
                OperationListener.SILENT).run("app");
        long runEnded = nowMicros();
        Invariants.assertNothingFrozen(cluster);
        OpContext op = OpContext.newBuilder().setGroup("app").setOpId(result.checkpointId()).setEpoch(result.epoch()).build();

        for (String host : cluster.hosts()) {
            // Both hosts thawed during the run (by the coordinator's Thaw or by the watch on the
            // all-captured node); asking again must name that moment, not the time of the question.
            long asked = nowMicros();
            ThawReply first = agent(host).thaw(ThawRequest.newBuilder().setCtx(op).build(), RPC_TIMEOUT);
            ThawReply again = agent(host).thaw(ThawRequest.newBuilder().setCtx(op).build(), RPC_TIMEOUT);
            assertThat(first.getWasFrozen()).as("host %s was already thawed", host).isFalse();
            assertThat(first.getThawedAtUnixMicros()).as("host %s: thawed during the run", host)
                    .isBetween(runStarted, runEnded).isLessThan(asked);
            assertThat(again.getThawedAtUnixMicros()).as("host %s: the same remembered thaw", host)
                    .isEqualTo(first.getThawedAtUnixMicros());
        }
        Invariants.assertAll(cluster);
    }

    @Test
    void aThawBeforeTheAllCapturedSignalOrADecisionIsRefusedAndTheGroupStaysFrozen() throws Exception {
        cluster = LocalCluster.start("h1", "h2");
        startTicker("h1");
        startTicker("h2");
        // One host is held in its capture (HeldCapture) while the other has captured: the other is frozen and
        // captured, and neither all-captured nor a decision exists. A Thaw of it now could cut into the held
        // host's capture.
        HeldCapture held = HeldCapture.ofNextCheckpoint(cluster, "app");
        AtomicReference<OpContext> opened = new AtomicReference<>();
        OperationListener remembersTheOp = new OperationListener() {
            @Override
            public void opened(String kind, String group, String opId, long epoch) {
                opened.set(OpContext.newBuilder().setGroup(group).setOpId(opId).setEpoch(epoch).build());
            }
        };
        CompletableFuture<CheckpointResult> run = CompletableFuture.supplyAsync(() -> {
            try {
                return new CheckpointOperation(cluster.coordinator(), CheckpointOptions.defaults(), remembersTheOp)
                        .run("app");
            } catch (Exception e) {
                throw new CompletionException(e);
            }
        });
        try {
            String captured = await("one host captured while the other is still in its capture")
                    .atMost(Duration.ofSeconds(20)).until(() -> capturedHosts(opened.get()), hosts -> hosts.size() == 1)
                    .get(0);
            OpContext op = opened.get();
            assertThat(cluster.coordinator().zk().checkExists().forPath(cluster.layout().allCaptured("app", op.getOpId(), cluster.hosts().size())))
                    .as("no all-captured signal while a host captures").isNull();

            assertThatThrownBy(() -> agent(captured).thaw(ThawRequest.newBuilder().setCtx(op).build(), RPC_TIMEOUT))
                    .isInstanceOfSatisfying(AgentCallException.class, e -> {
                        assertThat(e.code()).isEqualTo(Status.Code.FAILED_PRECONDITION);
                        assertThat(e.getMessage()).contains(captured)
                                .contains("neither a decision nor every host's capture").contains(op.getOpId());
                    });
            assertThat(Invariants.frozenState(cluster, "app")).as("both still frozen after the refused thaw")
                    .containsEntry("h1", true).containsEntry("h2", true);
        } finally {
            held.close();
        }

        CheckpointResult result = run.get(60, TimeUnit.SECONDS);
        assertThat(result.hosts()).containsExactly("h1", "h2");
        Invariants.assertAll(cluster);
        assertThat(Invariants.decisions(cluster, "app")).singleElement().satisfies(d -> assertThat(d.isCommit()).isTrue());
    }

    private List<String> capturedHosts(OpContext op) throws Exception {
        if (op == null) {
            return List.of();
        }
        List<String> hosts = new ArrayList<>();
        for (String host : cluster.hosts()) {
            if (cluster.coordinator().zk().checkExists().forPath(
                    cluster.layout().phaseEntry("app", op.getOpId(), Phase.CAPTURED, host)) != null) {
                hosts.add(host);
            }
        }
        return hosts;
    }

    private AgentClient agent(String host) throws Exception {
        return cluster.coordinator().clients().forHost(cluster.coordinator().directory().host(host).orElseThrow());
    }

    private void startTicker(String host) throws Exception {
        Path counter = cluster.dir().resolve("counter-" + host);
        int pid = cluster.run(host, "app", LocalCluster.worker("ready", "tick", counter.toString()));
        cluster.awaitReady(host, "app", pid);
    }

    private static long nowMicros() {
        java.time.Instant now = java.time.Instant.now();
        return now.getEpochSecond() * 1_000_000L + now.getNano() / 1000;
    }
}
