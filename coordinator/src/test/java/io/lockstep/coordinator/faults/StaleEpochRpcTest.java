package io.lockstep.coordinator.faults;

import io.lockstep.coordinator.agents.AgentCallException;
import io.lockstep.coordinator.agents.AgentClient;
import io.lockstep.coordinator.checkpoint.CheckpointOperation;
import io.lockstep.coordinator.checkpoint.CheckpointOptions;
import io.lockstep.coordinator.op.CheckpointResult;
import io.lockstep.coordinator.op.OperationListener;
import io.lockstep.coordinator.restore.RestoreOperation;
import io.lockstep.coordinator.restore.RestoreOptions;
import io.lockstep.coordinator.testing.HeldCapture;
import io.lockstep.coordinator.testing.Invariants;
import io.lockstep.coordinator.testing.LocalCluster;
import io.lockstep.coordinator.testing.ProcLocksSnapshot;
import io.lockstep.proto.AbortRequest;
import io.lockstep.proto.CaptureRequest;
import io.lockstep.proto.OpContext;
import io.lockstep.proto.PrepareRequest;
import io.lockstep.proto.ReleaseRequest;
import io.lockstep.proto.ThawRequest;
import io.lockstep.zk.Decision;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicReference;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

/**
 * An old coordinator's RPCs — carrying the previous operation's context, an older epoch — reach
 * the agents while a newer operation runs: at a checkpoint's frozen moment (Thaw, Abort, Capture)
 * and at a restore's prepared moment, its stubs holding the locks (Prepare, Release, Abort). Each
 * is refused as stale, naming the epoch, and the running operation goes on unaffected: the group
 * stays frozen (the stub keeps its lock), and the operation commits.
 */
class StaleEpochRpcTest {
    private static final Duration CALL_TIMEOUT = Duration.ofSeconds(10);

    private LocalCluster cluster;

    @AfterEach
    void tearDown() throws Exception {
        if (cluster != null) {
            cluster.close();
        }
    }

    @Test
    void staleThawAbortAndCaptureDuringAFrozenCheckpointAreRefusedAndItCommits() throws Exception {
        cluster = LocalCluster.startTwoHostsRunning("app");
        CheckpointResult previous = checkpoint(OperationListener.SILENT);
        OpContext stale = context(previous.checkpointId(), previous.epoch());
        Map<String, String> answers = new LinkedHashMap<>();
        AtomicReference<Map<String, Boolean>> frozenAfterTheStaleCalls = new AtomicReference<>();
        OperationListener atTheFrozenMoment = new OperationListener() {
            @Override
            public void phaseEnded(String phase, long micros) {
                if (phase.equals("freeze")) {
                    for (String host : List.of("h1", "h2")) {
                        answers.put("Thaw " + host, answer(host, agent -> agent.thaw(ThawRequest.newBuilder().setCtx(stale)
                                .build(), CALL_TIMEOUT)));
                        answers.put("Capture " + host, answer(host, agent -> agent.capture(CaptureRequest.newBuilder()
                                .setCtx(stale).build(), CALL_TIMEOUT)));
                        answers.put("Abort " + host, answer(host, agent -> agent.abort(AbortRequest.newBuilder()
                                .setCtx(stale).setReason("stale coordinator").build(), CALL_TIMEOUT)));
                    }
                    frozenAfterTheStaleCalls.set(frozenState());
                }
            }
        };

        // The hosts end the window by themselves: one is held in its capture so that the stale calls meet a
        // frozen group whatever the timing; it is let go once they were made and looked at.
        HeldCapture held = HeldCapture.ofNextCheckpoint(cluster, "app");
        CheckpointResult current;
        try (held) {
            current = checkpoint(releasingAfter(atTheFrozenMoment, held));
        }

        assertThat(current.epoch()).isGreaterThan(previous.epoch());
        assertThat(answers).hasSize(6).allSatisfy((call, answer) -> assertThat(answer).as(call)
                .startsWith("refused as stale").contains("stale epoch " + previous.epoch()));
        assertThat(frozenAfterTheStaleCalls.get()).as("the group after the stale calls, the checkpoint still running")
                .containsOnly(Map.entry("h1", true), Map.entry("h2", true));
        assertThat(Invariants.decisions(cluster, "app")).containsExactly(Decision.commit(), Decision.commit());
        Invariants.assertAll(cluster);
    }

    /** {@code listener}, then the held capture let go at the end of the same phase. */
    private static OperationListener releasingAfter(OperationListener listener, HeldCapture held) {
        return new OperationListener() {
            @Override
            public void phaseEnded(String phase, long micros) {
                listener.phaseEnded(phase, micros);
                if (phase.equals("freeze")) {
                    try {
                        held.close();
                    } catch (java.io.IOException e) {
                        throw new java.io.UncheckedIOException(e);
                    }
                }
            }
        };
    }

    @Test
    void stalePrepareReleaseAndAbortDuringAPreparedRestoreAreRefusedAndItCommits() throws Exception {
        cluster = LocalCluster.start("h1", "h2");
        Path data = Files.createDirectories(cluster.dir().resolve("export")).resolve("data");
        int holder = cluster.run("h1", "app", LocalCluster.worker("fd", "500", data.toString(), "lock", "posix", "write",
                "500", "0", "10", "ready", "sleep"));
        cluster.run("h2", "app", List.of("/bin/sleep", "600"));
        cluster.awaitReady("h1", "app", holder);
        CheckpointResult previous = checkpoint(OperationListener.SILENT);
        OpContext stale = context(previous.checkpointId(), previous.epoch());
        cluster.killApplications();
        ProcLocksSnapshot.FileId inode = ProcLocksSnapshot.fileIdOf(data);
        await("the checkpointed holder's lock is gone with it").atMost(Duration.ofSeconds(20))
                .until(() -> !ProcLocksSnapshot.heldOn(inode));
        Map<String, String> answers = new LinkedHashMap<>();
        AtomicBoolean lockHeldAfterTheStaleCalls = new AtomicBoolean();
        OperationListener atThePreparedMoment = new OperationListener() {
            @Override
            public void phaseEnded(String phase, long micros) {
                if (phase.equals("prepare")) {
                    for (String host : List.of("h1", "h2")) {
                        answers.put("Prepare " + host, answer(host, agent -> agent.prepare(PrepareRequest.newBuilder()
                                .setCtx(stale).setLast(true).setReset(true).build(), CALL_TIMEOUT)));
                        for (boolean commit : List.of(true, false)) {
                            answers.put("Release(commit=" + commit + ") " + host, answer(host, agent -> agent.release(
                                    ReleaseRequest.newBuilder().setCtx(stale).setCommit(commit).build(), CALL_TIMEOUT)));
                        }
                        answers.put("Abort " + host, answer(host, agent -> agent.abort(AbortRequest.newBuilder()
                                .setCtx(stale).setReason("stale coordinator").build(), CALL_TIMEOUT)));
                    }
                    try {
                        lockHeldAfterTheStaleCalls.set(ProcLocksSnapshot.heldOn(inode));
                    } catch (Exception e) {
                        throw new IllegalStateException(e);
                    }
                }
            }
        };

        String restore = new RestoreOperation(cluster.coordinator(), RestoreOptions.defaults().withAllowRoot(true),
                atThePreparedMoment).run("app").opId();

        assertThat(answers).hasSize(8).allSatisfy((call, answer) -> assertThat(answer).as(call)
                .startsWith("refused as stale").contains("stale epoch " + previous.epoch()));
        assertThat(lockHeldAfterTheStaleCalls).as("h1's stub still holds the lock after the stale calls").isTrue();
        assertThat(Invariants.decisions(cluster, "app")).as("decisions, the last of " + restore)
                .containsExactly(Decision.commit(), Decision.commit());
        await("the restored holder holds its lock").atMost(Duration.ofSeconds(30))
                .until(() -> ProcLocksSnapshot.heldOn(inode));
        Invariants.assertAll(cluster);
    }

    private CheckpointResult checkpoint(OperationListener listener) throws Exception {
        return new CheckpointOperation(cluster.coordinator(), CheckpointOptions.defaults(), listener).run("app");
    }

    private static OpContext context(String opId, long epoch) {
        return OpContext.newBuilder().setGroup("app").setOpId(opId).setEpoch(epoch).build();
    }

    private Map<String, Boolean> frozenState() {
        try {
            return Invariants.frozenState(cluster, "app");
        } catch (Exception e) {
            throw new IllegalStateException(e);
        }
    }

    private interface Call {
        Object on(AgentClient agent) throws AgentCallException;
    }

    /** "refused as stale: …", "accepted", or "failed otherwise: …" (asserted after the operation, not inside it). */
    private String answer(String host, Call call) {
        try {
            AgentClient agent = cluster.coordinator().clients().forHost(cluster.coordinator().directory().host(host)
                    .orElseThrow());
            call.on(agent);
            return "accepted";
        } catch (AgentCallException e) {
            return (e.isStaleEpoch() ? "refused as stale: " : "failed otherwise: ") + e.getMessage();
        } catch (Exception e) {
            return "failed otherwise: " + e;
        }
    }
}
