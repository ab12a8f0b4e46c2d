package io.lockstep.agent.server;

import io.grpc.Status;
import io.grpc.StatusRuntimeException;
import io.lockstep.agent.cgroup.FreezeTimeoutException;
import io.lockstep.manifest.ManifestCodec;
import io.lockstep.proto.AbortRequest;
import io.lockstep.proto.CaptureRequest;
import io.lockstep.proto.FreezeReply;
import io.lockstep.proto.FreezeRequest;
import io.lockstep.proto.Manifest;
import io.lockstep.proto.OpContext;
import io.lockstep.proto.OpKind;
import io.lockstep.proto.ProcessRecord;
import io.lockstep.proto.ThawReply;
import io.lockstep.proto.ThawRequest;
import io.lockstep.zk.Decision;
import io.lockstep.zk.testing.ZkTestRoot;
import io.lockstep.zk.Phase;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;

import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.awaitility.Awaitility.await;

/**
 * This host's part of a checkpoint, through CheckpointParticipant's public calls, on a real cgroup v2
 * group with a real process counting into a file: freeze, capture and thaw (docs/DESIGN.md,
 * "Checkpoint"), also on the all-frozen and all-captured signals alone; a thaw waits for a decision; abort writes ABORT and thaws; a freeze deadline is a
 * duration counted on this host's clock. No test leaves a group frozen.
 */
class CheckpointParticipantTest {
    private static final Duration BUDGET = Duration.ofSeconds(30);
    /**
     * A second participant of the ops, played by the test: it never enters a barrier, so h1's entries
     * never complete one, and the test creates the signals (or calls) itself.
     */
    private static final String PLAYED_BY_THE_TEST = "h2";
    @RegisterExtension
    final ZkTestRoot zooKeeper = new ZkTestRoot();
    private AgentParts agent;
    private String group;
    private Path counter;
    private int pid;

    @BeforeEach
    void startCountingProcess() throws Exception {
        agent = AgentParts.start("h1", zooKeeper);
        group = AgentParts.newGroup();
        counter = agent.work.resolve("counter");
        pid = agent.run(group, "/bin/sh", "-c", "i=0; while :; do i=$((i+1)); echo $i > counter; sleep 0.01; done");
        await("the group's process counts").atMost(Duration.ofSeconds(10)).until(() -> count() > 0);
    }

    /** Also fails the test if it left a group frozen. */
    @AfterEach
    void stop() throws Exception {
        agent.close();
    }

    private long count() throws Exception {
        String text = Files.exists(counter) ? Files.readString(counter).trim() : "";
        return text.isEmpty() ? 0 : Long.parseLong(text);
    }

    private FreezeRequest freezeOf(OpContext op) {
        return FreezeRequest.newBuilder().setCtx(op).setTimeoutMs(BUDGET.toMillis()).setMaxFrozenMs(BUDGET.toMillis()).build();
    }

    @Test
    void freezeCaptureAndThawOnTheDecisionRecordTheFrozenProcessAndLetItRunAgain() throws Exception {
        OpContext op = agent.open(group, OpKind.CHECKPOINT, BUDGET, "h1", PLAYED_BY_THE_TEST);

        FreezeReply frozen = agent.checkpoint.freeze(freezeOf(op));

        assertThat(frozen.getTasks()).isPositive();
        assertThat(agent.cgroup(group).isFrozen()).as("the kernel reports the cgroup frozen").isTrue();
        assertThat(agent.zk.checkExists().forPath(agent.layout.phaseEntry(group, op.getOpId(), Phase.FROZEN, "h1")))
                .as("the host entered the frozen barrier").isNotNull();

        CheckpointParticipant.Captured captured = agent.checkpoint.capture(CaptureRequest.newBuilder().setCtx(op).build());

        Manifest manifest = ManifestCodec.decode(captured.framed());
        assertThat(manifest.getProcessesList()).extracting(ProcessRecord::getPid).contains(pid);
        assertThat(manifest.getProcessesList()).filteredOn(p -> p.getPid() == pid)
                .allSatisfy(p -> assertThat(p.getRestart().getArgvList()).startsWith("/bin/sh", "-c"));
        assertThat(captured.sha256Hex()).isEqualTo(ManifestCodec.sha256Hex(captured.framed()));
        assertThat(agent.cgroup(group).isFrozen()).as("capture leaves the group frozen").isTrue();

        agent.decide(op, Decision.commit());
        long before = count();
        ThawReply thawed = agent.checkpoint.thaw(ThawRequest.newBuilder().setCtx(op).build());

        assertThat(thawed.getThawedAtUnixMicros()).isPositive();
        assertThat(agent.cgroup(group).isFrozen()).isFalse();
        await("the process counts again after the thaw").atMost(Duration.ofSeconds(10)).until(() -> count() > before);
    }

    @Test
    void theAllCapturedNodeThawsTheGroupAndTheCapturedEntryStaysForTheCommitUntilTheDecision() throws Exception {
        OpContext op = agent.open(group, OpKind.CHECKPOINT, BUDGET, "h1", PLAYED_BY_THE_TEST);
        agent.checkpoint.freeze(freezeOf(op));
        agent.checkpoint.capture(CaptureRequest.newBuilder().setCtx(op).build());
        String captured = agent.layout.phaseEntry(group, op.getOpId(), Phase.CAPTURED, "h1");

        // h2's captured entry, the last: its count child is all-captured
        agent.enterAs(op, Phase.CAPTURED, PLAYED_BY_THE_TEST);

        await("the group thaws on the all-captured node alone").atMost(Duration.ofSeconds(10))
                .until(() -> !agent.cgroup(group).isFrozen());
        long before = count();
        await("the process counts again before any decision").atMost(Duration.ofSeconds(10)).until(() -> count() > before);
        assertThat(agent.zk.checkExists().forPath(captured)).as("the commit checks it after the thaw").isNotNull();

        agent.decide(op, Decision.commit());
        await("the barrier entries go once the decision is seen").atMost(Duration.ofSeconds(10))
                .until(() -> agent.zk.checkExists().forPath(captured) == null && agent.zk.checkExists()
                        .forPath(agent.layout.phaseEntry(group, op.getOpId(), Phase.FROZEN, "h1")) == null);
    }

    @Test
    void onTheAllFrozenNodeTheHostCapturesByItselfAndItsManifestTravelsAfterTheThaw() throws Exception {
        OpContext op = agent.open(group, OpKind.CHECKPOINT, BUDGET, "h1", PLAYED_BY_THE_TEST);
        agent.checkpoint.freeze(freezeOf(op));
        String captured = agent.layout.phaseEntry(group, op.getOpId(), Phase.CAPTURED, "h1");

        agent.enterAs(op, Phase.FROZEN, PLAYED_BY_THE_TEST);

        await("the host captures on the all-frozen node, with no call").atMost(Duration.ofSeconds(10))
                .until(() -> agent.zk.checkExists().forPath(captured) != null);
        assertThat(agent.cgroup(group).isFrozen()).as("the capture leaves the group frozen").isTrue();

        agent.enterAs(op, Phase.CAPTURED, PLAYED_BY_THE_TEST);
        await("the group thaws on the all-captured node").atMost(Duration.ofSeconds(10))
                .until(() -> !agent.cgroup(group).isFrozen());
        long before = count();
        await("the process counts again").atMost(Duration.ofSeconds(10)).until(() -> count() > before);

        CheckpointParticipant.Captured fetched = agent.checkpoint.capture(CaptureRequest.newBuilder().setCtx(op).build());
        assertThat(ManifestCodec.decode(fetched.framed()).getProcessesList()).extracting(ProcessRecord::getPid)
                .as("the manifest was taken while frozen, kept in memory, and fetched after the thaw").contains(pid);
        assertThat(fetched.thawedAtUnixMicros()).as("the moment of the thaw travels with it").isPositive();

        agent.decide(op, Decision.commit());
        await("the barrier entries go once the decision is seen").atMost(Duration.ofSeconds(10))
                .until(() -> agent.zk.checkExists().forPath(captured) == null);
    }

    @Test
    void aCaptureThatFailsOnTheAllFrozenNodeDecidesAbortNamingTheHostAndNeverEntersTheCapturedBarrier()
            throws Exception {
        OpContext op = agent.open(group, OpKind.CHECKPOINT, BUDGET, "h1", PLAYED_BY_THE_TEST);
        agent.checkpoint.freeze(freezeOf(op));
        // Thawed behind the agent's back: the cut of this host is no longer consistent.
        agent.cgroup(group).freezer().thaw();

        agent.enterAs(op, Phase.FROZEN, PLAYED_BY_THE_TEST);

        await("the host decides ABORT itself").atMost(Duration.ofSeconds(10))
                .until(() -> agent.zk.checkExists().forPath(agent.layout.decision(group, op.getOpId())) != null);
        Decision standing = new io.lockstep.zk.Decisions(agent.zk, agent.layout).read(group, op.getOpId()).orElseThrow();
        assertThat(standing.isCommit()).isFalse();
        // Thawed, the group's processes run on: the capture finds the group thawed, or one of its short-lived
        // processes gone while it reads it; either way it fails and names this host.
        assertThat(standing.reason()).contains("capture of group " + group + " on host h1 failed")
                .containsPattern("was thawed|exited during capture");
        assertThat(agent.zk.checkExists().forPath(agent.layout.phaseEntry(group, op.getOpId(), Phase.CAPTURED, "h1")))
                .as("no commit can include this host").isNull();
        assertThatThrownBy(() -> agent.checkpoint.capture(CaptureRequest.newBuilder().setCtx(op).build()))
                .isInstanceOf(StatusRuntimeException.class).hasMessageContaining("is not frozen for op " + op.getOpId());
        assertThat(agent.cgroup(group).isFrozen()).isFalse();
    }

    @Test
    void aThawBeforeAnyDecisionIsRefusedAndTheGroupStaysFrozen() throws Exception {
        OpContext op = agent.open(group, OpKind.CHECKPOINT, BUDGET, "h1", PLAYED_BY_THE_TEST);
        agent.checkpoint.freeze(freezeOf(op));

        assertThatThrownBy(() -> agent.checkpoint.thaw(ThawRequest.newBuilder().setCtx(op).build()))
                .isInstanceOfSatisfying(StatusRuntimeException.class,
                        e -> assertThat(e.getStatus().getCode()).isEqualTo(Status.Code.FAILED_PRECONDITION))
                .hasMessageContaining("op " + op.getOpId() + " has neither a decision nor every host's capture")
                .hasMessageContaining("host h1 does not thaw before one of them exists");
        assertThat(agent.cgroup(group).isFrozen()).as("a commit may still include this host").isTrue();

        agent.checkpoint.abort(AbortRequest.newBuilder().setCtx(op).build());
    }

    @Test
    void abortWritesAbortThawsTheGroupAndACaptureAfterItIsRefused() throws Exception {
        OpContext op = agent.open(group, OpKind.CHECKPOINT, BUDGET, "h1", PLAYED_BY_THE_TEST);
        agent.checkpoint.freeze(freezeOf(op));

        agent.checkpoint.abort(AbortRequest.newBuilder().setCtx(op).setReason("operator gave up").build());

        assertThat(agent.decision(op)).hasValueSatisfying(d -> {
            assertThat(d.isCommit()).isFalse();
            assertThat(d.reason()).isEqualTo("operator gave up");
        });
        assertThat(agent.cgroup(group).isFrozen()).isFalse();
        long before = count();
        await("the process counts again after the abort").atMost(Duration.ofSeconds(10)).until(() -> count() > before);
        assertThatThrownBy(() -> agent.checkpoint.capture(CaptureRequest.newBuilder().setCtx(op).build()))
                .hasMessageContaining("group " + group + " on host h1 is not frozen for op " + op.getOpId());
    }

    @Test
    void anAbortNeverOverridesACommitThatAlreadyStands() throws Exception {
        OpContext op = agent.open(group, OpKind.CHECKPOINT, BUDGET, "h1", PLAYED_BY_THE_TEST);
        agent.checkpoint.freeze(freezeOf(op));
        agent.decide(op, Decision.commit());

        agent.checkpoint.abort(AbortRequest.newBuilder().setCtx(op).setReason("late abort").build());

        assertThat(agent.decision(op)).hasValueSatisfying(d -> assertThat(d.isCommit()).isTrue());
        assertThat(agent.cgroup(group).isFrozen()).as("the group thaws on the standing decision").isFalse();
    }

    @Test
    void aFreezeDeadlineIsADurationCountedOnThisHostsClock() throws Exception {
        OpContext op = agent.open(group, OpKind.CHECKPOINT, BUDGET, "h1", PLAYED_BY_THE_TEST);
        // The coordinator's clock is a minute behind: its absolute deadline has passed here already.
        long coordinatorDeadline = System.currentTimeMillis() - Duration.ofMinutes(1).toMillis();

        FreezeReply frozen = agent.checkpoint.freeze(freezeOf(op).toBuilder().setDeadlineUnixMs(coordinatorDeadline).build());

        assertThat(frozen.getTasks()).as("the duration, not the skewed instant, bounds the freeze").isPositive();
        agent.checkpoint.abort(AbortRequest.newBuilder().setCtx(op).build());
    }

    @Test
    void aFreezeWhoseOnlyDeadlineHasPassedFailsAndLeavesTheGroupThawedAndDisarmed() throws Exception {
        OpContext op = agent.open(group, OpKind.CHECKPOINT, BUDGET, "h1", PLAYED_BY_THE_TEST);
        FreezeRequest absoluteOnly = FreezeRequest.newBuilder().setCtx(op).setMaxFrozenMs(BUDGET.toMillis())
                .setDeadlineUnixMs(System.currentTimeMillis() - 1).build();

        assertThatThrownBy(() -> agent.checkpoint.freeze(absoluteOnly)).isInstanceOf(FreezeTimeoutException.class);

        assertThat(agent.cgroup(group).isFrozen()).isFalse();
        // Disarmed: the same op may be armed again, and this time it freezes.
        assertThat(agent.checkpoint.freeze(freezeOf(op)).getTasks()).isPositive();
        agent.checkpoint.abort(AbortRequest.newBuilder().setCtx(op).build());
    }

    @Test
    void aGroupFrozenForOneOpRefusesTheFreezeOfAnother() throws Exception {
        OpContext first = agent.open(group, OpKind.CHECKPOINT, BUDGET, "h1", PLAYED_BY_THE_TEST);
        agent.checkpoint.freeze(freezeOf(first));
        OpContext second = agent.open(group, OpKind.CHECKPOINT, BUDGET, "h1", PLAYED_BY_THE_TEST);

        assertThatThrownBy(() -> agent.checkpoint.freeze(freezeOf(second)))
                .hasMessageContaining("group " + group + " is already frozen for op " + first.getOpId());

        agent.checkpoint.abort(AbortRequest.newBuilder().setCtx(first).build());
    }

    @Test
    void aHostAloneInTheOpClosesBothBarriersItselfAndKeepsItsCapturedEntryForTheCommit() throws Exception {
        OpContext op = agent.open(group, OpKind.CHECKPOINT, BUDGET);

        FreezeReply frozen = agent.checkpoint.freeze(freezeOf(op));

        assertThat(frozen.getClosedAllFrozen()).as("its entry completes the barrier").isTrue();
        await("the host captures and thaws with no signal from anyone").atMost(Duration.ofSeconds(10))
                .until(() -> !agent.cgroup(group).isFrozen());
        assertThat(agent.zk.checkExists().forPath(agent.layout.allFrozen(group, op.getOpId(), 1))).isNotNull();
        assertThat(agent.zk.checkExists().forPath(agent.layout.allCaptured(group, op.getOpId(), 1))).isNotNull();
        String captured = agent.layout.phaseEntry(group, op.getOpId(), Phase.CAPTURED, "h1");
        assertThat(agent.zk.checkExists().forPath(captured)).as("the commit checks it after the thaw").isNotNull();
        long before = count();
        await("the process counts again before any decision").atMost(Duration.ofSeconds(10)).until(() -> count() > before);
        CheckpointParticipant.Captured fetched = agent.checkpoint.capture(CaptureRequest.newBuilder().setCtx(op).build());
        assertThat(ManifestCodec.decode(fetched.framed()).getProcessesList()).extracting(ProcessRecord::getPid).contains(pid);
        assertThat(fetched.thawedAtUnixMicros()).isPositive();

        agent.decide(op, Decision.commit());
        await("the barrier entries go once the decision is seen").atMost(Duration.ofSeconds(10))
                .until(() -> agent.zk.checkExists().forPath(captured) == null);
    }

    @Test
    void theHostWhoseCapturedEntryCompletesTheBarrierCreatesAllCapturedAndThaws() throws Exception {
        OpContext op = agent.open(group, OpKind.CHECKPOINT, BUDGET, "h1", PLAYED_BY_THE_TEST);
        FreezeReply frozen = agent.checkpoint.freeze(freezeOf(op));
        assertThat(frozen.getClosedAllFrozen()).as("h2 has not entered the frozen barrier").isFalse();
        // h2 captured already, as its agent would have: its captured entry, counted first; then its
        // frozen entry, the last, whose count child is all-frozen
        agent.enterAs(op, Phase.CAPTURED, PLAYED_BY_THE_TEST);
        agent.enterAs(op, Phase.FROZEN, PLAYED_BY_THE_TEST);

        await("h1 captures, counts the last captured entry, creates all-captured and thaws").atMost(Duration.ofSeconds(10))
                .until(() -> !agent.cgroup(group).isFrozen());
        assertThat(agent.zk.checkExists().forPath(agent.layout.allCaptured(group, op.getOpId(), 2))).isNotNull();
        assertThat(agent.decision(op)).as("nothing decided: the coordinator commits").isEmpty();
        agent.checkpoint.abort(AbortRequest.newBuilder().setCtx(op).build());
    }
}
