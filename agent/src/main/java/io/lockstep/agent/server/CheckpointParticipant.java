package io.lockstep.agent.server;

import io.grpc.Status;
import io.lockstep.agent.capture.CaptureScope;
import io.lockstep.agent.capture.CaptureStats;
import io.lockstep.agent.capture.GroupCapturer;
import io.lockstep.agent.cgroup.ArmedGuard;
import io.lockstep.agent.cgroup.CgroupLayout;
import io.lockstep.agent.cgroup.GroupCgroup;
import io.lockstep.agent.cgroup.GuardDaemon;
import io.lockstep.agent.cgroup.FreezeResult;
import io.lockstep.agent.cgroup.Freezer;
import io.lockstep.manifest.ManifestCodec;
import io.lockstep.proto.AbortRequest;
import io.lockstep.proto.CaptureRequest;
import io.lockstep.proto.FreezeReply;
import io.lockstep.proto.FreezeRequest;
import io.lockstep.proto.Manifest;
import io.lockstep.proto.OpContext;
import io.lockstep.proto.OpRecord;
import io.lockstep.proto.RestartSpec;
import io.lockstep.proto.ThawReply;
import io.lockstep.proto.ThawRequest;
import io.lockstep.zk.Decision;
import io.lockstep.zk.Decisions;
import io.lockstep.zk.Phase;
import io.lockstep.zk.ZkLayout;
import org.apache.curator.framework.CuratorFramework;
import org.apache.curator.framework.api.transaction.CuratorOp;
import org.apache.zookeeper.KeeperException;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.io.File;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.Optional;
import java.util.OptionalLong;
import java.util.Set;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ScheduledExecutorService;
import java.util.stream.Stream;

/**
 * This host's part of a checkpoint (docs/DESIGN.md, "Checkpoint"): one call arms the guard and
 * freezes; from then on the host moves on ZooKeeper signals — it captures into memory when the
 * op's all-frozen node appears and thaws when its all-captured node appears — and the manifest
 * travels to the coordinator after the thaw. Abort and the watchdog end it on any other path.
 * The group thaws exactly once per freeze, on whichever safe path comes first.
 */
public final class CheckpointParticipant {
    private static final Logger LOG = LoggerFactory.getLogger(CheckpointParticipant.class);
    /** How long the start-up's warm-up waits for the notification of its own write. */
    private static final Duration WARM_UP_NOTIFICATION = Duration.ofSeconds(2);
    /** Windows (freeze, capture, thaw) at start-up, so that the JIT has compiled their code before the first checkpoint (the checkpoint bench suite's first-frozen-window shows what is left). */
    private static final int WARM_UP_WINDOWS = 10;
    /** How long a warm-up freeze may take, and its scratch cgroup's kill. */
    private static final Duration WARM_UP_FREEZE = Duration.ofSeconds(2);
    /** Under the state directory: the warm-up child's output file and restart spec, removed after the warm-up. */
    static final String WARM_UP_DIR = "warm-up";

    private final AgentConfig config;
    private final CuratorFramework zk;
    private final ZkLayout layout;
    private final OpAdmission admission;
    private final GroupRegistry groups;
    private final ScheduledExecutorService timer;
    private final GroupCapturer capturer;
    private final AgentMetrics metrics;
    private final GuardDaemon guards;
    private final CaptureSnapshots snapshots;

    CheckpointParticipant(CheckpointParts parts, GuardDaemon guards) {
        this.config = parts.config();
        this.zk = parts.zk();
        this.layout = parts.layout();
        this.admission = parts.admission();
        this.groups = parts.groups();
        this.timer = parts.timer();
        this.capturer = new GroupCapturer(java.time.Clock.systemUTC(), config.networkFsTypes(), config.serverNames());
        this.metrics = parts.metrics();
        this.guards = guards;
        this.snapshots = new CaptureSnapshots(config, zk, layout);
    }

    /**
     * Admits the op, arms the freeze guard and the watch ({@link #arm}), then freezes and enters
     * the frozen barrier ({@link #freezeArmed}). With arm_only it stops after arming.
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
                OpRecord record = admission.admitNew(op);
                current = arm(group, op, request, record.getParticipantsList());
            } else {
                admission.admit(op);
            }
            if (request.getArmOnly() || current.frozen()) {
                return reply(group, current, false);
            }
            Frozen frozen = freezeArmed(group, current, request);
            return reply(group, frozen.state(), frozen.closedAllFrozen());
        }
    }

    /** Caller holds the group's monitor. */
    private FrozenState arm(ManagedGroup group, OpContext op, FreezeRequest request, List<String> participants)
            throws Exception {
        try {
            group.cleanup().get(30, java.util.concurrent.TimeUnit.SECONDS);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IOException("interrupted while the previous freeze of group " + group.name() + " was cleaned up", e);
        } catch (java.util.concurrent.ExecutionException | java.util.concurrent.TimeoutException e) {
            throw new IOException("the previous freeze of group " + group.name() + " was not cleaned up: " + e, e);
        }
        snapshots.prepare(op);
        Duration maxFrozen = Duration.ofMillis(Math.max(request.getMaxFrozenMs(), config.minimumMaxFrozen().toMillis()));
        // One line to the agent's long-lived guard: microseconds, no process start.
        ArmedGuard guard = guards.arm(guardId(op), group.cgroup().freezer(), maxFrozen,
                () -> timer.execute(() -> guardFired(group, op, maxFrozen)));
        // Two signals, one exists watch each (no host lists the barriers): every host frozen →
        // capture; every host captured → thaw, which ends what the maximum frozen time bounds.
        OpWatch watch = new OpWatch(zk, layout, op, config.hostId(), config.sessionTimeout(), timer, true,
                verdict -> onVerdict(group, op, verdict))
                .onSignal(layout.allFrozen(op.getGroup(), op.getOpId(), participants.size()), false,
                        () -> captureOnAllFrozen(group, op))
                .onSignal(layout.allCaptured(op.getGroup(), op.getOpId(), participants.size()), true,
                        () -> thawOnAllCaptured(group, op));
        FrozenState armed = new FrozenState(op, participants, guard, watch, null, 0);
        group.frozen(armed);
        watch.start(maxFrozen);
        LOG.info("group {} op {} epoch {} host {}: armed the freeze guard (it thaws the group after {} ms)", op.getGroup(),
                op.getOpId(), op.getEpoch(), config.hostId(), maxFrozen.toMillis());
        return armed;
    }

    /** The freeze guard entry of a checkpoint op: its group first, so that a restarted agent finds a group's entries. */
    public static String guardId(OpContext op) {
        return op.getGroup() + "/" + op.getOpId();
    }

    /** Caller holds the group's monitor. On failure the group is thawed and disarmed. */
    private Frozen freezeArmed(ManagedGroup group, FrozenState armed, FreezeRequest request) throws Exception {
        OpContext op = armed.op();
        Freezer freezer = group.cgroup().freezer();
        // The frozen window is what the application feels: from the freeze request to the thaw.
        long startedMicros = nowMicros();
        FreezeResult result;
        boolean closedAllFrozen;
        try {
            // A freeze still running when the guard fires would end frozen and unguarded.
            result = freezer.freeze(armed.guard().capDeadline(Instant.ofEpochMilli(request.getDeadlineUnixMs())));
            if (armed.participants().size() == 1) {
                return windowAlone(group, armed.frozenWith(result, startedMicros));
            }
            closedAllFrozen = FrozenEntry.enter(zk, layout, op, config.hostId(), armed.participants());
        } catch (Exception e) {
            thawIfFrozenFor(Optional.of(group), op, Thaw.UNDECIDED, "freeze failed: " + e.getMessage());
            throw e;
        }
        FrozenState frozen = armed.frozenWith(result, startedMicros);
        group.frozen(frozen);
        LOG.info("group {} op {} epoch {} host {}: frozen {} tasks in {} µs ({}){}", op.getGroup(), op.getOpId(),
                op.getEpoch(), config.hostId(), result.tasks(), result.micros(), result.backend(),
                closedAllFrozen ? ", the last: every host is frozen" : "");
        if (closedAllFrozen) {
            // This host created all-frozen: capture now rather than on the notification of its own
            // write (on the timer: the capture needs the group's monitor, which this call holds).
            String allFrozen = layout.allFrozen(op.getGroup(), op.getOpId(), armed.participants().size());
            timer.execute(() -> frozen.watch().signalled(allFrozen));
        }
        return new Frozen(frozen, closedAllFrozen);
    }

    /**
     * The window of a host alone in its op: nothing inside it waits for another host, so nothing
     * inside it waits for ZooKeeper either. It captures while frozen, thaws, and only then enters
     * both barriers and creates both signals in one multi, under the frozen entry's checks
     * ({@link FrozenEntry#enterAlone}). The cut holds: the host was frozen throughout its own
     * capture, and there is no other host to thaw before it. A late, stale or decided op fails
     * that multi: the capture and its snapshots are dropped and the Freeze is refused, as a late
     * Freeze of several hosts is — the application was frozen for one capture. Caller holds the
     * group's monitor.
     */
    private Frozen windowAlone(ManagedGroup group, FrozenState frozen) throws Exception {
        OpContext op = frozen.op();
        group.frozen(frozen);
        long captureStarted = System.nanoTime();
        Captured captured = captureIntoMemory(group, op);
        long captureNanos = System.nanoTime() - captureStarted;
        thawNow(group, frozen, Thaw.ALL_CAPTURED, "alone in the op, captured while frozen");
        recordCapture(captured, captureNanos);
        try {
            FrozenEntry.enterAlone(zk, layout, op, config.hostId());
        } catch (Exception e) {
            group.forgetCapture(op.getOpId());
            snapshots.discard(op);
            throw e;
        }
        logCaptured(op, group.captured(op.getOpId()));
        // The signals exist: the watch goes on to the decision, whose verdict removes the entries.
        frozen.watch().signalled(layout.allCaptured(op.getGroup(), op.getOpId(), 1));
        return new Frozen(frozen, true);
    }

    /** A freeze done: the group's state, and whether this host's entry completed the barrier and it created all-frozen. */
    private record Frozen(FrozenState state, boolean closedAllFrozen) {
    }

    private FreezeReply reply(ManagedGroup group, FrozenState state, boolean closedAllFrozen) {
        FreezeReply.Builder reply = FreezeReply.newBuilder().setHostId(config.hostId()).setClosedAllFrozen(closedAllFrozen)
                .setFreezer(group.cgroup().backend().toString())
                .setDegraded(group.cgroup().backend().degraded());
        if (state.frozen()) {
            reply.setTasks(state.result().tasks())
                    .setFreezeMicros(state.result().micros())
                    .setFreezeStartedUnixMicros(state.startedUnixMicros());
        }
        return reply.build();
    }

    /**
     * Runs freeze, capture and thaw on a scratch cgroup of its own (nothing kept) and the
     * window's ZooKeeper calls once on a node of its own: the classes they load and the code the
     * JIT compiles would otherwise be paid inside the first checkpoint's frozen window after a start.
     */
    public void warmUp() {
        warmUpWindow();
        warmUpSignals();
    }

    /**
     * The ZooKeeper calls of the window, on a node of this host's own ({@link ZkLayout#warmUp}):
     * the multi that creates and counts an entry, the notification of an exists watch, a read,
     * the multi that deletes. Bounded; a failure only costs the first checkpoint's speed.
     */
    private void warmUpSignals() {
        long started = System.nanoTime();
        String node = layout.warmUp(config.hostId());
        try {
            zk.createContainers(node.substring(0, node.lastIndexOf('/')));
            java.util.concurrent.CountDownLatch created = new java.util.concurrent.CountDownLatch(1);
            zk.checkExists().usingWatcher((org.apache.zookeeper.Watcher) event -> created.countDown()).forPath(node);
            zk.transaction().forOperations(
                    zk.transactionOp().create().withMode(org.apache.zookeeper.CreateMode.EPHEMERAL).forPath(node),
                    zk.transactionOp().setData().forPath(node, new byte[0]),
                    zk.transactionOp().check().forPath(node));
            if (!created.await(WARM_UP_NOTIFICATION.toMillis(), java.util.concurrent.TimeUnit.MILLISECONDS)) {
                LOG.debug("host {}: no notification of {} within {} ms", config.hostId(), node, WARM_UP_NOTIFICATION.toMillis());
            }
            zk.getData().forPath(node);
            zk.transaction().forOperations(zk.transactionOp().delete().forPath(node));
            LOG.debug("host {}: the window's ZooKeeper calls warmed up in {} ms", config.hostId(),
                    (System.nanoTime() - started) / 1_000_000);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        } catch (Exception e) {
            LOG.warn("host {}: warming up the window's ZooKeeper calls on {} failed: {}", config.hostId(), node, e.toString());
            try {
                zk.delete().quietly().forPath(node);
            } catch (Exception ignored) {
                // ephemeral: it goes with the session at the latest
            }
        }
    }

    /**
     * The window of a checkpoint, {@link #WARM_UP_WINDOWS} times, through the code a checkpoint runs
     * ({@link #warmUpOnce}): a guard armed on this agent's guard daemon, the freeze of this agent's
     * backend, {@link #captureIntoMemory} (processes, restart specs, locks, files, snapshots, the
     * framed manifest kept on the group), the thaw and the guard's cancel. It runs on a scratch group
     * of its own ({@link CgroupLayout#scratchGroup}): never a group, never registered, its ops never
     * in ZooKeeper nor in the metrics. Its child is started as {@code agent run} starts one — a
     * {@code sleep} in /, stdin /dev/null, output appended to a file its restart spec names — so that
     * the capture reads the fds and records a group's process has. What an earlier agent process left
     * (scratch cgroups, guard entries, the scratch state directory) is removed first; what this one
     * makes is removed afterwards, also on failure. A failure only costs the first checkpoint's speed.
     */
    private void warmUpWindow() {
        long started = System.nanoTime();
        CgroupLayout cgroups = groups.layout();
        GroupCgroup scratch = cgroups.scratchGroup();
        Path scratchDir = config.stateDir().resolve(WARM_UP_DIR);
        Process child = null;
        try {
            for (GroupCgroup left : cgroups.leftScratchGroups()) {
                removeScratch(left);
            }
            for (String id : guards.entryIds()) {
                if (id.startsWith(CgroupLayout.SCRATCH_PREFIX)) {
                    guards.disarm(id);
                }
            }
            deleteScratchDir(scratchDir);
            scratch.create();
            Path output = Files.createDirectories(scratchDir).resolve("output.log");
            child = new ProcessBuilder("sleep", "60").directory(new File("/")).redirectInput(new File("/dev/null"))
                    .redirectErrorStream(true).redirectOutput(ProcessBuilder.Redirect.appendTo(output.toFile())).start();
            int pid = (int) child.pid();
            scratch.addProcess(pid);
            RestartSpecs specs = new RestartSpecs(scratchDir.resolve("specs"));
            specs.put(pid, RestartSpec.newBuilder().addAllArgv(List.of("sleep", "60")).setCwd("/")
                    .setOutputLog(output.toString()).build());
            ManagedGroup group = new ManagedGroup(scratch.name(), scratch, specs, GroupRegistry.ROOT);
            CaptureStats captured = null;
            for (int i = 0; i < WARM_UP_WINDOWS; i++) {
                captured = warmUpOnce(group, i);
            }
            LOG.info("host {}: the checkpoint window warmed up on {}: {} times freeze, capture ({} processes, {} fds, {} "
                    + "files, {} warnings) and thaw in {} ms", config.hostId(), scratch, WARM_UP_WINDOWS, captured.processes(),
                    captured.fds(), captured.files(), captured.warnings(), (System.nanoTime() - started) / 1_000_000);
        } catch (Exception e) {
            LOG.warn("host {}: warming up freeze, capture and thaw on {} failed: {}", config.hostId(), scratch, e.toString());
        } finally {
            if (child != null) {
                child.destroyForcibly();
            }
            try {
                removeScratch(scratch);
            } catch (IOException e) {
                LOG.warn("host {}: cannot remove the warm-up's scratch {}: {}", config.hostId(), scratch, e.getMessage());
            }
            try {
                deleteScratchDir(scratchDir);
            } catch (IOException e) {
                LOG.warn("host {}: cannot remove the warm-up's directory {}: {}", config.hostId(), scratchDir, e.getMessage());
            }
        }
    }

    /**
     * One window on the scratch group, as {@link #arm}, {@link #freezeArmed} and {@link #windowAlone}
     * run it for a group: its op declares no data path and has no watch (nothing in ZooKeeper
     * signals a scratch op); its capture is dropped after the thaw.
     *
     * @return the capture's totals
     */
    private CaptureStats warmUpOnce(ManagedGroup group, int window) throws Exception {
        OpContext op = OpContext.newBuilder().setGroup(group.name()).setOpId("warm-up-" + window).build();
        // A guard that fires thaws the scratch group: the capture's guard check then fails the warm-up.
        ArmedGuard guard = guards.arm(guardId(op), group.cgroup().freezer(), WARM_UP_FREEZE, () -> { });
        snapshots.declare(op, List.of());
        FrozenState armed = new FrozenState(op, List.of(config.hostId()), guard, null, null, 0);
        synchronized (group) {
            try {
                long startedMicros = nowMicros();
                FreezeResult result = group.cgroup().freezer().freeze(guard.capDeadline(Instant.now().plus(WARM_UP_FREEZE)));
                group.frozen(armed.frozenWith(result, startedMicros));
                return captureIntoMemory(group, op).stats();
            } finally {
                endWindow(group, armed, Thaw.ALL_CAPTURED);
                group.frozen(null);
                group.forgetCapture(op.getOpId());
                snapshots.settle(op);
                guard.cancel();
            }
        }
    }

    private static void deleteScratchDir(Path dir) throws IOException {
        if (!Files.exists(dir)) {
            return;
        }
        try (Stream<Path> paths = Files.walk(dir)) {
            for (Path path : paths.sorted(Comparator.reverseOrder()).toList()) {
                Files.delete(path);
            }
        }
    }

    /** Kills what is in a scratch cgroup (frozen or not) and removes it; nothing for a missing one. */
    private static void removeScratch(GroupCgroup scratch) throws IOException {
        if (scratch.path().isPresent() && !java.nio.file.Files.isDirectory(scratch.path().get())) {
            return;
        }
        if (!scratch.killAll(WARM_UP_FREEZE)) {
            throw new IOException("processes " + scratch.pids() + " in " + scratch + " survived SIGKILL");
        }
        scratch.remove();
    }

    /**
     * The framed manifest of the frozen group, its totals, and when this host thawed for the op
     * (0 while it is still frozen).
     */
    public record Captured(byte[] framed, String sha256Hex, CaptureStats stats, long thawedAtUnixMicros) {
        Captured thawedAt(long atUnixMicros) {
            return new Captured(framed, sha256Hex, stats, atUnixMicros);
        }
    }

    /** At start-up: the snapshots an earlier agent process took for ops it never settled (issue 15). */
    void settleLeftSnapshots() {
        snapshots.settleLeftPending();
    }

    /**
     * The Capture RPC: this host's manifest of the op, captured on the all-frozen signal (or now,
     * when the signal has not come yet: the caller vouches that every host is frozen), with the
     * moment of its thaw. Called after all-captured exists, it thaws the group if the watch has
     * not yet (the same rule as {@link #thaw}).
     */
    public Captured capture(CaptureRequest request) throws Exception {
        OpContext op = request.getCtx();
        admission.admit(op);
        ManagedGroup group = groups.find(op.getGroup()).orElseThrow(() -> Status.FAILED_PRECONDITION
                .withDescription("group " + op.getGroup() + " is not managed by host " + config.hostId()).asRuntimeException());
        Captured captured = group.captured(op.getOpId());
        if (captured == null) {
            captured = captureFrozen(group, op);
        }
        OptionalLong thawed = group.thawedOnSignal(op.getOpId());
        if (thawed.isEmpty()) {
            Optional<String> allCaptured = frozenFor(Optional.of(group), op).map(this::allCaptured);
            if (allCaptured.isPresent() && zk.checkExists().forPath(allCaptured.get()) != null) {
                thawed = thawIfFrozenFor(Optional.of(group), op, Thaw.ALL_CAPTURED, "manifest fetched, every host captured");
            }
        }
        // The snapshots' durability, and the copy engine's digests in the manifest, are needed before the commit, not
        // before the thaw: the coordinator commits only with every host's manifest, which this call brings.
        Captured durable = snapshots.makeDurable(op, captured);
        if (durable != captured) {
            synchronized (group) {
                if (group.captured(op.getOpId()) == captured) {
                    group.captured(op.getOpId(), durable);
                }
            }
        }
        return durable.thawedAt(thawed.orElse(0));
    }

    /**
     * The single "every host is frozen, now capture" point: processes, locks and files, then the
     * snapshots (issue 15) — the same cut — all into memory; the captured entry only if the group
     * stayed frozen and its guard armed throughout. At most once per op: the manifest is kept for
     * the coordinator, who fetches it after the thaw.
     */
    private Captured captureFrozen(ManagedGroup group, OpContext op) throws Exception {
        List<String> participants;
        OpWatch watch;
        Captured inMemory;
        long captureNanos;
        synchronized (group) {
            Captured already = group.captured(op.getOpId());
            if (already != null) {
                return already;
            }
            long captureStarted = System.nanoTime();
            inMemory = captureIntoMemory(group, op);
            captureNanos = System.nanoTime() - captureStarted;
            participants = group.frozen().participants();
            watch = group.frozen().watch();
        }
        BarrierSignal barrier = new BarrierSignal(zk, layout, op, Phase.CAPTURED, participants.size());
        boolean closedAllCaptured;
        try {
            // The entry only while the op is still its coordinator's and no later op opened (as the frozen entry):
            // a host that resumes after its op ended (SIGSTOP past its session) must not enter the barrier of a
            // decided op, whose entry would outlive the op (PausedAgentTest). They are also the close's checks.
            List<CuratorOp> guards = List.of(
                    zk.transactionOp().check().forPath(layout.owner(op.getGroup(), op.getOpId())),
                    zk.transactionOp().check().withVersion(Math.toIntExact(op.getEpoch())).forPath(layout.epoch(op.getGroup())));
            closedAllCaptured = barrier.enter(config.hostId(), guards);
        } catch (Exception e) {
            group.forgetCapture(op.getOpId());
            throw e;
        }
        recordCapture(inMemory, captureNanos);
        if (closedAllCaptured) {
            // This host created all-captured: thaw now rather than on the notification of its own write.
            watch.signalled(layout.allCaptured(op.getGroup(), op.getOpId(), participants.size()));
        }
        Captured captured = group.captured(op.getOpId());
        logCaptured(op, captured);
        return captured;
    }

    /**
     * The capture's metrics, off the window's critical path: after the thaw of a host alone, after
     * the captured entry of one of several hosts.
     */
    private void recordCapture(Captured captured, long captureNanos) {
        metrics.captured(captured.stats());
        metrics.phase("capture", captureNanos, true);
    }

    private void logCaptured(OpContext op, Captured captured) {
        LOG.info("group {} op {} epoch {} host {}: captured {} processes, {} locks, {} files ({} bytes)", op.getGroup(),
                op.getOpId(), op.getEpoch(), config.hostId(), captured.stats().processes(), captured.stats().locks(),
                captured.stats().files(), captured.framed().length);
    }

    /**
     * Processes, locks and files of the frozen group, then the snapshots (issue 15) — the same cut
     * — into memory, kept on the group for the coordinator; only if the group stayed frozen and its
     * guard armed throughout. The start-up warm-up runs it too, on a scratch group ({@link
     * #warmUpWindow}). Caller holds the group's monitor.
     *
     * @return the capture, kept on the group; the caller records its metrics after the window
     */
    private Captured captureIntoMemory(ManagedGroup group, OpContext op) throws Exception {
        FrozenState state = requireFrozenFor(group, op);
        Set<Integer> pids = group.cgroup().pids();
        Manifest manifest = capturer.capture(new CaptureScope(op.getGroup(), config.hostId(), op.getOpId(), op.getEpoch(),
                state.result().backend().toString(), state.result().degraded(), new ArrayList<>(pids),
                group.specs().forPids(pids))).toBuilder().setGroupOwnerUid(group.owner()).build();
        // Inside the window, after every host froze: the same cut as the locks.
        manifest = snapshots.take(op, manifest, state.participants());
        // The cut is consistent only if the group stayed frozen throughout.
        if (!state.guard().isArmed() || !group.cgroup().isFrozen()) {
            snapshots.discard(op);
            throw Status.ABORTED.withDescription("group " + op.getGroup() + " on host " + config.hostId()
                    + " was thawed (by its freeze guard) during the capture of op " + op.getOpId()).asRuntimeException();
        }
        byte[] framed = ManifestCodec.encode(manifest);
        Captured captured = new Captured(framed, ManifestCodec.sha256Hex(framed), CaptureStats.of(manifest), 0);
        group.captured(op.getOpId(), captured);
        return captured;
    }

    /**
     * The all-frozen signal: capture. A capture that fails cannot be reported to anyone waiting
     * on a call, so the host decides ABORT itself (naming host and cause) and thaws; it never
     * created its captured entry, so no commit can include it even when ABORT cannot be written.
     */
    private void captureOnAllFrozen(ManagedGroup group, OpContext op) {
        try {
            captureFrozen(group, op);
        } catch (Exception e) {
            metrics.phase("capture", 0, false);
            String reason = "capture of group " + op.getGroup() + " on host " + config.hostId() + " failed: "
                    + (e instanceof io.grpc.StatusRuntimeException status && status.getStatus().getDescription() != null
                    ? status.getStatus().getDescription() : e.toString());
            Thaw why = Thaw.UNDECIDED;
            String standing = "no decision written";
            try {
                standing = "decision " + new Decisions(zk, layout).decide(op.getGroup(), op.getOpId(), Decision.abort(reason));
                why = Thaw.DECIDED;
            } catch (Exception zkFailure) {
                LOG.error("op {} host {}: {}; cannot write ABORT: {}", op.getOpId(), config.hostId(), reason,
                        zkFailure.toString());
            }
            try {
                thawIfFrozenFor(Optional.of(group), op, why, reason + "; " + standing);
            } catch (IOException thawFailure) {
                LOG.error("group {} op {} host {}: thaw after a failed capture failed ({}); the freeze guard thaws at "
                        + "its deadline", op.getGroup(), op.getOpId(), config.hostId(), thawFailure.toString());
            }
        }
    }

    /** The group's frozen (or armed) state, when it is for this op. */
    private static Optional<FrozenState> frozenFor(Optional<ManagedGroup> group, OpContext op) {
        return group.map(ManagedGroup::frozen).filter(state -> state.op().getOpId().equals(op.getOpId()));
    }

    /** The op's all-captured signal: it depends on how many hosts take part. */
    private String allCaptured(FrozenState state) {
        return layout.allCaptured(state.op().getGroup(), state.op().getOpId(), state.participants().size());
    }

    /** The group's state, frozen for the op. Caller holds the group's monitor. */
    private FrozenState requireFrozenFor(ManagedGroup group, OpContext op) {
        FrozenState state = group.frozen();
        if (state == null || !state.frozen() || !state.op().getOpId().equals(op.getOpId())) {
            throw Status.FAILED_PRECONDITION.withDescription("group " + op.getGroup() + " on host " + config.hostId()
                    + " is not frozen for op " + op.getOpId() + " (thawed by its watchdog or never frozen)").asRuntimeException();
        }
        return state;
    }

    /**
     * Thaw on the coordinator's word — only once every host captured (the all-captured node) or a
     * decision exists, so a thaw can never cut into another host's capture.
     */
    public ThawReply thaw(ThawRequest request) throws Exception {
        OpContext op = request.getCtx();
        admission.admit(op);
        Optional<ManagedGroup> group = groups.find(op.getGroup());
        // Usually the watch saw the signal first and thawed: then nothing is left to do or to
        // read, and the reply carries the moment of that thaw, which ends this host's frozen window.
        OptionalLong thawedBefore = group.map(g -> g.thawedOnSignal(op.getOpId())).orElse(OptionalLong.empty());
        if (thawedBefore.isPresent()) {
            return thawReply(false, thawedBefore.getAsLong());
        }
        Optional<FrozenState> state = frozenFor(group, op);
        OptionalLong thawedNow;
        if (state.isEmpty()) {
            thawedNow = OptionalLong.empty();
        } else if (zk.checkExists().forPath(allCaptured(state.get())) != null) {
            thawedNow = thawIfFrozenFor(group, op, Thaw.ALL_CAPTURED, "thaw requested, every host captured");
        } else {
            Optional<Decision> decision = new Decisions(zk, layout).read(op.getGroup(), op.getOpId());
            if (decision.isEmpty()) {
                throw Status.FAILED_PRECONDITION.withDescription("op " + op.getOpId() + " has neither a decision nor "
                        + "every host's capture (" + allCaptured(state.get()) + ") yet: host "
                        + config.hostId() + " does not thaw before one of them exists").asRuntimeException();
            }
            thawedNow = thawIfFrozenFor(group, op, Thaw.DECIDED, "thaw requested after " + decision.get());
        }
        if (thawedNow.isPresent()) {
            return thawReply(true, thawedNow.getAsLong());
        }
        // The watch may have thawed it meanwhile; otherwise it was not frozen for this op here.
        thawedBefore = group.map(g -> g.thawedOnSignal(op.getOpId())).orElse(OptionalLong.empty());
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
        thawIfFrozenFor(groups.find(op.getGroup()), op, Thaw.DECIDED, "abort requested; decision " + standing);
    }

    /** Why a group thaws: what is left to do afterwards depends on it. */
    private enum Thaw {
        /** Every host captured: the cut is complete; the barrier entries stay until the decision, which the commit checks. */
        ALL_CAPTURED,
        /** A decision exists (or this agent just wrote ABORT). */
        DECIDED,
        /** No decision could be read or written: the freeze failed, or this host's session is gone with its entries. */
        UNDECIDED
    }

    /** @return when the group was thawed, or empty when it was not frozen for this op */
    private OptionalLong thawIfFrozenFor(Optional<ManagedGroup> maybeGroup, OpContext op, Thaw why, String reason)
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
            return OptionalLong.of(thawNow(group, state, why, reason));
        }
    }

    /**
     * The single place where a group thaws because its checkpoint's cut is complete: every host
     * created its captured entry while frozen (the coordinator created the all-captured node in a
     * multi that checked them all). The durable store write and the commit follow the thaw.
     */
    private void thawOnAllCaptured(ManagedGroup group, OpContext op) {
        try {
            thawIfFrozenFor(Optional.of(group), op, Thaw.ALL_CAPTURED, "every host captured");
        } catch (IOException e) {
            LOG.error("group {} op {} host {}: thaw failed ({}); the freeze guard thaws at its deadline", op.getGroup(),
                    op.getOpId(), config.hostId(), e.toString());
        }
    }

    /** The watch's verdict: thaw if still frozen; a group thawed on all-captured only removes its entries now. */
    private void onVerdict(ManagedGroup group, OpContext op, OpWatch.Verdict verdict) {
        // Decided: the coordinator fetched the manifest before its commit, or will never need it.
        group.forgetCapture(op.getOpId());
        try {
            OptionalLong thawed = thawIfFrozenFor(Optional.of(group), op,
                    verdict.decision().isPresent() ? Thaw.DECIDED : Thaw.UNDECIDED, verdict.reason());
            if (thawed.isEmpty()) {
                removeEntries(op);
                // Thawed on all-captured, before the decision: the decision settles its snapshots now.
                timer.execute(() -> snapshots.settle(op));
            }
        } catch (IOException e) {
            // The external guard thaws at the maximum frozen time regardless.
            LOG.error("group {} op {} host {}: thaw failed ({}); the freeze guard thaws at its deadline", op.getGroup(),
                    op.getOpId(), config.hostId(), e.toString());
        }
    }

    /**
     * The freeze guard thawed the group by itself (its maximum frozen time passed, or its timer
     * was cut short): no safe signal ordered this thaw, so this host may have thawed before every
     * host captured, and the operation must not commit. ABORT first, then the thaw's bookkeeping.
     */
    private void guardFired(ManagedGroup group, OpContext op, Duration maxFrozen) {
        synchronized (group) {
            FrozenState state = group.frozen();
            if (state == null || !state.op().getOpId().equals(op.getOpId())) {
                return;
            }
        }
        String reason = "the freeze guard of host " + config.hostId() + " thawed group " + op.getGroup()
                + " (maximum frozen time " + maxFrozen.toMillis() + " ms) before every host captured";
        Thaw why = Thaw.UNDECIDED;
        String standing = "no decision written";
        try {
            standing = "decision " + new Decisions(zk, layout).decide(op.getGroup(), op.getOpId(), Decision.abort(reason));
            why = Thaw.DECIDED;
        } catch (Exception e) {
            // ZooKeeper out of reach: the guard fires only after the session timeout, so the
            // session-loss rule holds, and the entries go with the session.
            LOG.error("op {} host {}: {}; cannot write ABORT: {}", op.getOpId(), config.hostId(), reason, e.toString());
        }
        try {
            thawIfFrozenFor(Optional.of(group), op, why, reason + "; " + standing);
        } catch (IOException e) {
            LOG.error("group {} op {} host {}: thaw after the guard failed: {}", op.getGroup(), op.getOpId(),
                    config.hostId(), e.toString());
        }
    }

    /** Caller holds the group's monitor. */
    private long thawNow(ManagedGroup group, FrozenState state, Thaw why, String reason) throws IOException {
        long thawedAt = endWindow(group, state, why);
        group.frozen(null);
        OpContext op = state.op();
        if (why != Thaw.ALL_CAPTURED) {
            // The op cannot commit with this host (or is decided): nobody will fetch its manifest.
            group.forgetCapture(op.getOpId());
        }
        if (why != Thaw.UNDECIDED) {
            group.thawedOnSignal(op.getOpId(), thawedAt);
        }
        LOG.info("group {} op {} epoch {} host {}: thawed ({})", op.getGroup(), op.getOpId(), op.getEpoch(),
                config.hostId(), reason);
        if (state.frozen()) {
            metrics.thawed(thawedAt - state.startedUnixMicros());
        }
        // The application runs again; what is left (stopping the guard, removing the barrier
        // entries) is off the thaw's path. The group's next freeze waits for it, so an old guard
        // can never fire into a new freeze.
        group.cleanup(CompletableFuture.runAsync(() -> {
            cancelGuard(state);
            if (why != Thaw.ALL_CAPTURED) {
                removeEntries(op);
            }
        }, timer));
        return thawedAt;
    }

    /**
     * The window's end: the thaw, and when it happened. The start-up warm-up ends its windows here
     * too. Caller holds the group's monitor.
     */
    private static long endWindow(ManagedGroup group, FrozenState state, Thaw why) throws IOException {
        if (why != Thaw.ALL_CAPTURED) {
            // After all-captured the watch goes on: its verdict (the decision) removes the entries.
            state.watch().close();
        }
        group.cgroup().freezer().thaw();
        return nowMicros();
    }

    private void cancelGuard(FrozenState state) {
        OpContext op = state.op();
        snapshots.settle(op);
        try {
            if (!state.guard().cancel()) {
                LOG.info("group {} op {} host {}: the freeze guard had already thawed it", op.getGroup(), op.getOpId(),
                        config.hostId());
            }
        } catch (IOException e) {
            LOG.error("op {} host {}: cannot stop the freeze guard: {}", op.getOpId(), config.hostId(), e.toString());
        }
    }

    /**
     * In the background: with ZooKeeper out of reach (the usual reason for a thaw without the
     * coordinator) a blocking delete would hold a watchdog thread through all its retries. The
     * nodes are ephemeral; an expired session has removed them already. Both entries go in one
     * multi (one write); when one of them is missing (never captured, or gone with a session) each
     * goes on its own.
     */
    private void removeEntries(OpContext op) {
        String captured = layout.phaseEntry(op.getGroup(), op.getOpId(), Phase.CAPTURED, config.hostId());
        String frozen = layout.phaseEntry(op.getGroup(), op.getOpId(), Phase.FROZEN, config.hostId());
        try {
            zk.transaction().inBackground((client, event) -> {
                if (event.getResultCode() != KeeperException.Code.OK.intValue()) {
                    removeEach(op, captured, frozen);
                }
            }).forOperations(zk.transactionOp().delete().forPath(captured), zk.transactionOp().delete().forPath(frozen));
        } catch (Exception e) {
            removeEach(op, captured, frozen);
        }
    }

    private void removeEach(OpContext op, String... entries) {
        for (String entry : entries) {
            try {
                zk.delete().quietly().inBackground((client, event) -> {
                    int code = event.getResultCode();
                    if (code != KeeperException.Code.OK.intValue() && code != KeeperException.Code.NONODE.intValue()) {
                        LOG.warn("op {} host {}: cannot remove {}: {}", op.getOpId(), config.hostId(), entry,
                                KeeperException.Code.get(code));
                    }
                }).forPath(entry);
            } catch (Exception e) {
                LOG.warn("op {} host {}: cannot remove {}: {}", op.getOpId(), config.hostId(), entry, e.toString());
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
                    thawNow(group, state, Thaw.DECIDED, reason + "; decision " + standing);
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
