package io.lockstep.agent.server;

import io.grpc.Status;
import io.lockstep.agent.capture.CaptureScope;
import io.lockstep.agent.capture.CaptureStats;
import io.lockstep.agent.capture.GroupCapturer;
import io.lockstep.agent.cgroup.FreezeGuard;
import io.lockstep.agent.cgroup.FreezeResult;
import io.lockstep.agent.cgroup.Freezer;
import io.lockstep.manifest.ManifestCodec;
import io.lockstep.proto.AbortRequest;
import io.lockstep.proto.CaptureRequest;
import io.lockstep.proto.FreezeReply;
import io.lockstep.proto.FreezeRequest;
import io.lockstep.proto.Manifest;
import io.lockstep.proto.OpContext;
import io.lockstep.proto.ThawReply;
import io.lockstep.proto.ThawRequest;
import io.lockstep.zk.Decision;
import io.lockstep.zk.Decisions;
import io.lockstep.zk.Phase;
import io.lockstep.zk.ZkLayout;
import org.apache.curator.framework.CuratorFramework;
import org.apache.zookeeper.CreateMode;
import org.apache.zookeeper.KeeperException;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.io.IOException;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.Optional;
import java.util.OptionalLong;
import java.util.Set;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ScheduledExecutorService;

/**
 * This host's part of a checkpoint: freeze (with its guard and watchdog), capture, thaw, abort.
 * The group thaws exactly once per freeze, on whichever safe path comes first.
 */
public final class CheckpointParticipant {
    private static final Logger LOG = LoggerFactory.getLogger(CheckpointParticipant.class);

    private final AgentConfig config;
    private final CuratorFramework zk;
    private final ZkLayout layout;
    private final OpAdmission admission;
    private final GroupRegistry groups;
    private final ScheduledExecutorService timer;
    private final GroupCapturer capturer;
    private final AgentMetrics metrics;

    public CheckpointParticipant(AgentConfig config, CuratorFramework zk, ZkLayout layout, OpAdmission admission,
                                 GroupRegistry groups, ScheduledExecutorService timer, AgentMetrics metrics) {
        this.config = config;
        this.zk = zk;
        this.layout = layout;
        this.admission = admission;
        this.groups = groups;
        this.timer = timer;
        this.capturer = new GroupCapturer(java.time.Clock.systemUTC(), config.networkFsTypes(), config.serverNames());
        this.metrics = metrics;
    }

    /**
     * Step 1 (arm_only): admit the op and arm the freeze guard, so that starting a process is not
     * part of any frozen window. Step 2: freeze, and enter the freeze barrier. A request without
     * arm_only does both.
     */
    public FreezeReply freeze(FreezeRequest received) throws Exception {
        FreezeRequest request = LocalDeadline.onThisClock(received);
        OpContext op = request.getCtx();
        ManagedGroup group = groups.open(op.getGroup());
        synchronized (group) {
            FrozenState current = group.frozen();
            if (current != null && !current.op().getOpId().equals(op.getOpId())) {
                throw Status.FAILED_PRECONDITION.withDescription("group " + op.getGroup() + " is already frozen for op "
                        + current.op().getOpId()).asRuntimeException();
            }
            if (current == null) {
                admission.admitNew(op);
                current = arm(group, op, request);
            } else {
                admission.admit(op);
            }
            if (request.getArmOnly() || current.frozen()) {
                return reply(group, current);
            }
            return reply(group, freezeArmed(group, current, request));
        }
    }

    /** Caller holds the group's monitor. */
    private FrozenState arm(ManagedGroup group, OpContext op, FreezeRequest request) throws IOException {
        try {
            group.cleanup().get(30, java.util.concurrent.TimeUnit.SECONDS);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IOException("interrupted while the previous freeze of group " + group.name() + " was cleaned up", e);
        } catch (java.util.concurrent.ExecutionException | java.util.concurrent.TimeoutException e) {
            throw new IOException("the previous freeze of group " + group.name() + " was not cleaned up: " + e, e);
        }
        Duration maxFrozen = Duration.ofMillis(Math.max(request.getMaxFrozenMs(), config.minimumMaxFrozen().toMillis()));
        FreezeGuard guard = FreezeGuard.arm(group.cgroup().freezer(), maxFrozen);
        OpWatch watch = new OpWatch(zk, layout, op, config.hostId(), config.sessionTimeout(), timer, true,
                verdict -> thawQuietly(group, op, verdict.decision().isPresent(), verdict.reason()));
        FrozenState armed = new FrozenState(op, guard, watch, null, 0);
        group.frozen(armed);
        watch.start(maxFrozen);
        LOG.info("group {} op {} epoch {} host {}: armed the freeze guard (it thaws the group after {} ms)", op.getGroup(),
                op.getOpId(), op.getEpoch(), config.hostId(), maxFrozen.toMillis());
        return armed;
    }

    /** Caller holds the group's monitor. On failure the group is thawed and disarmed. */
    private FrozenState freezeArmed(ManagedGroup group, FrozenState armed, FreezeRequest request) throws Exception {
        OpContext op = armed.op();
        Freezer freezer = group.cgroup().freezer();
        // The frozen window is what the application feels: from the freeze request to the thaw.
        long startedMicros = nowMicros();
        FreezeResult result;
        try {
            // A freeze still running when the guard fires would end frozen and unguarded.
            result = freezer.freeze(armed.guard().capDeadline(Instant.ofEpochMilli(request.getDeadlineUnixMs())));
            zk.create().withMode(CreateMode.EPHEMERAL).forPath(layout.phaseEntry(op.getGroup(), op.getOpId(),
                    Phase.FROZEN, config.hostId()));
        } catch (Exception e) {
            thawNow(group, armed, false, "freeze failed: " + e.getMessage());
            throw e;
        }
        FrozenState frozen = armed.frozenWith(result, startedMicros);
        group.frozen(frozen);
        LOG.info("group {} op {} epoch {} host {}: frozen {} tasks in {} µs ({})", op.getGroup(), op.getOpId(),
                op.getEpoch(), config.hostId(), result.tasks(), result.micros(), result.backend());
        return frozen;
    }

    private FreezeReply reply(ManagedGroup group, FrozenState state) {
        FreezeReply.Builder reply = FreezeReply.newBuilder().setHostId(config.hostId())
                .setFreezer(group.cgroup().backend().toString())
                .setDegraded(group.cgroup().backend().degraded());
        if (state.frozen()) {
            reply.setTasks(state.result().tasks())
                    .setFreezeMicros(state.result().micros())
                    .setFreezeStartedUnixMicros(state.startedUnixMicros());
        }
        return reply.build();
    }

    /** The framed manifest of the frozen group, and its totals. */
    public record Captured(byte[] framed, String sha256Hex, CaptureStats stats) {
    }

    public Captured capture(CaptureRequest request) throws Exception {
        OpContext op = request.getCtx();
        admission.admit(op);
        ManagedGroup group = requireFrozenFor(op);
        Manifest manifest;
        synchronized (group) {
            requireFrozenFor(op);
            FrozenState state = group.frozen();
            Set<Integer> pids = group.cgroup().pids();
            manifest = capturer.capture(new CaptureScope(op.getGroup(), config.hostId(), op.getOpId(), op.getEpoch(),
                    state.result().backend().toString(), state.result().degraded(), new ArrayList<>(pids),
                    group.specs().forPids(pids))).toBuilder().setGroupOwnerUid(group.owner()).build();
            // The cut is consistent only if the group stayed frozen throughout.
            if (!state.guard().isArmed() || !group.cgroup().isFrozen()) {
                throw Status.ABORTED.withDescription("group " + op.getGroup() + " on host " + config.hostId()
                        + " was thawed (by its freeze guard) during the capture of op " + op.getOpId()).asRuntimeException();
            }
        }
        byte[] framed = ManifestCodec.encode(manifest);
        zk.create().withMode(CreateMode.EPHEMERAL).forPath(layout.phaseEntry(op.getGroup(), op.getOpId(),
                Phase.CAPTURED, config.hostId()));
        CaptureStats stats = CaptureStats.of(manifest);
        metrics.captured(stats);
        LOG.info("group {} op {} epoch {} host {}: captured {} processes, {} locks, {} files ({} bytes)", op.getGroup(),
                op.getOpId(), op.getEpoch(), config.hostId(), stats.processes(), stats.locks(), stats.files(), framed.length);
        return new Captured(framed, ManifestCodec.sha256Hex(framed), stats);
    }

    private ManagedGroup requireFrozenFor(OpContext op) {
        ManagedGroup group = groups.find(op.getGroup()).orElseThrow(() -> Status.FAILED_PRECONDITION
                .withDescription("group " + op.getGroup() + " is not managed by host " + config.hostId()).asRuntimeException());
        FrozenState state = group.frozen();
        if (state == null || !state.frozen() || !state.op().getOpId().equals(op.getOpId())) {
            throw Status.FAILED_PRECONDITION.withDescription("group " + op.getGroup() + " on host " + config.hostId()
                    + " is not frozen for op " + op.getOpId() + " (thawed by its watchdog or never frozen)").asRuntimeException();
        }
        return group;
    }

    /** Thaw on the coordinator's word — only once a decision exists, so a commit cannot be undercut. */
    public ThawReply thaw(ThawRequest request) throws Exception {
        OpContext op = request.getCtx();
        admission.admit(op);
        Optional<ManagedGroup> group = groups.find(op.getGroup());
        // Usually the watchdog saw the decision first and thawed: then nothing is left to do or to
        // read, and the reply carries the moment of that thaw, which ends this host's frozen window.
        OptionalLong thawedBefore = group.map(g -> g.thawedOnDecision(op.getOpId())).orElse(OptionalLong.empty());
        if (thawedBefore.isPresent()) {
            return thawReply(false, thawedBefore.getAsLong());
        }
        Optional<Decision> decision = new Decisions(zk, layout).read(op.getGroup(), op.getOpId());
        if (decision.isEmpty()) {
            throw Status.FAILED_PRECONDITION.withDescription("op " + op.getOpId() + " has no decision yet: host "
                    + config.hostId() + " does not thaw before one exists").asRuntimeException();
        }
        OptionalLong thawedNow = thawIfFrozenFor(group, op, true, "thaw requested after " + decision.get());
        if (thawedNow.isPresent()) {
            return thawReply(true, thawedNow.getAsLong());
        }
        // The watchdog may have thawed it meanwhile; otherwise it was not frozen for this op here.
        thawedBefore = group.map(g -> g.thawedOnDecision(op.getOpId())).orElse(OptionalLong.empty());
        return thawReply(false, thawedBefore.orElse(nowMicros()));
    }

    private ThawReply thawReply(boolean wasFrozen, long thawedAtUnixMicros) {
        return ThawReply.newBuilder().setHostId(config.hostId()).setWasFrozen(wasFrozen)
                .setThawedAtUnixMicros(thawedAtUnixMicros).build();
    }

    /** Abort: make sure ABORT stands (unless COMMIT already does), then thaw. */
    public void abort(AbortRequest request) throws Exception {
        OpContext op = request.getCtx();
        admission.admit(op);
        Decision standing = new Decisions(zk, layout).decide(op.getGroup(), op.getOpId(),
                Decision.abort(request.getReason().isEmpty() ? "aborted by coordinator" : request.getReason()));
        thawIfFrozenFor(groups.find(op.getGroup()), op, true, "abort requested; decision " + standing);
    }

    /** @return when the group was thawed, or empty when it was not frozen for this op */
    private OptionalLong thawIfFrozenFor(Optional<ManagedGroup> maybeGroup, OpContext op, boolean onDecision, String reason)
            throws IOException {
        if (maybeGroup.isEmpty()) {
            return OptionalLong.empty();
        }
        ManagedGroup group = maybeGroup.get();
        synchronized (group) {
            FrozenState state = group.frozen();
            if (state == null || !state.op().getOpId().equals(op.getOpId())) {
                return OptionalLong.empty();
            }
            return OptionalLong.of(thawNow(group, state, onDecision, reason));
        }
    }

    private void thawQuietly(ManagedGroup group, OpContext op, boolean onDecision, String reason) {
        try {
            thawIfFrozenFor(Optional.of(group), op, onDecision, reason);
        } catch (IOException e) {
            // The external guard thaws at the maximum frozen time regardless.
            LOG.error("group {} op {} host {}: thaw failed ({}); the freeze guard thaws at its deadline", op.getGroup(),
                    op.getOpId(), config.hostId(), e.toString());
        }
    }

    /** Caller holds the group's monitor; {@code onDecision}: the op's decision exists. */
    private long thawNow(ManagedGroup group, FrozenState state, boolean onDecision, String reason) throws IOException {
        state.watch().close();
        group.cgroup().freezer().thaw();
        long thawedAt = nowMicros();
        group.frozen(null);
        OpContext op = state.op();
        if (onDecision) {
            group.thawedOnDecision(op.getOpId(), thawedAt);
        }
        LOG.info("group {} op {} epoch {} host {}: thawed ({})", op.getGroup(), op.getOpId(), op.getEpoch(),
                config.hostId(), reason);
        if (state.frozen()) {
            metrics.thawed(thawedAt - state.startedUnixMicros());
        }
        // The application runs again; what is left (stopping the guard, removing the barrier
        // entries) is off the thaw's path. The group's next freeze waits for it, so an old guard
        // can never fire into a new freeze.
        group.cleanup(CompletableFuture.runAsync(() -> cleanUp(state), timer));
        return thawedAt;
    }

    private void cleanUp(FrozenState state) {
        OpContext op = state.op();
        try {
            if (!state.guard().cancel()) {
                LOG.info("group {} op {} host {}: the freeze guard had already thawed it", op.getGroup(), op.getOpId(),
                        config.hostId());
            }
        } catch (IOException e) {
            LOG.error("op {} host {}: cannot stop the freeze guard: {}", op.getOpId(), config.hostId(), e.toString());
        }
        // In the background: with ZooKeeper out of reach (the usual reason for a thaw without the
        // coordinator) a blocking delete would hold a watchdog thread through all its retries. The
        // nodes are ephemeral; an expired session has removed them already.
        for (Phase phase : new Phase[] {Phase.CAPTURED, Phase.FROZEN}) {
            try {
                zk.delete().quietly().inBackground((client, event) -> {
                    if (event.getResultCode() != KeeperException.Code.OK.intValue()) {
                        LOG.warn("op {} host {}: cannot remove {} node: {}", op.getOpId(), config.hostId(), phase.node(),
                                KeeperException.Code.get(event.getResultCode()));
                    }
                }).forPath(layout.phaseEntry(op.getGroup(), op.getOpId(), phase, config.hostId()));
            } catch (Exception e) {
                LOG.warn("op {} host {}: cannot remove {} node: {}", op.getOpId(), config.hostId(), phase.node(), e.toString());
            }
        }
    }

    /**
     * Agent shutdown: every group still frozen is aborted, then thawed. Where ABORT cannot be
     * written (ZooKeeper gone) the group stays frozen for the freeze guard to thaw: thawing
     * without a decision could undercut a commit.
     */
    public void abortAll(String reason) {
        for (ManagedGroup group : groups.all().values()) {
            synchronized (group) {
                FrozenState state = group.frozen();
                if (state == null) {
                    continue;
                }
                OpContext op = state.op();
                try {
                    Decision standing = new Decisions(zk, layout).decide(op.getGroup(), op.getOpId(),
                            Decision.abort(reason + " on host " + config.hostId()));
                    thawNow(group, state, true, reason + "; decision " + standing);
                } catch (Exception e) {
                    LOG.error("group {} op {}: cannot abort at shutdown ({}); the freeze guard thaws it", group.name(),
                            op.getOpId(), e.toString());
                }
            }
        }
    }

    static long nowMicros() {
        Instant now = Instant.now();
        return now.getEpochSecond() * 1_000_000L + now.getNano() / 1000;
    }
}
