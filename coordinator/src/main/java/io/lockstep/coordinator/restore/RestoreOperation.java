package io.lockstep.coordinator.restore;

import io.lockstep.manifest.LockHandOver;
import io.lockstep.manifest.ManifestCodec;
import io.lockstep.manifest.ManifestFormatException;
import io.lockstep.coordinator.agents.AgentCallException;
import io.lockstep.coordinator.agents.AgentClient;
import io.lockstep.coordinator.catalog.Catalog;
import io.lockstep.coordinator.catalog.KnownGroups;
import io.lockstep.coordinator.op.AgentFanout;
import io.lockstep.coordinator.op.CoordinatorContext;
import io.lockstep.coordinator.op.FailureReason;
import io.lockstep.coordinator.op.OpenedOperation;
import io.lockstep.coordinator.op.OperationFrame;
import io.lockstep.coordinator.op.RestoreResult;
import io.lockstep.coordinator.op.OperationFailedException;
import io.lockstep.coordinator.op.OperationListener;
import io.lockstep.coordinator.op.OperationSession;
import io.lockstep.coordinator.op.ParallelCalls;
import io.lockstep.coordinator.op.PhaseBarrier;
import io.lockstep.proto.CatalogEntry;
import io.lockstep.proto.CatalogManifest;
import io.lockstep.proto.FileProblem;
import io.lockstep.proto.GroupStatus;
import io.lockstep.proto.HandOver;
import io.lockstep.proto.LockConflict;
import io.lockstep.proto.LockKind;
import io.lockstep.proto.LockRecord;
import io.lockstep.proto.LockType;
import io.lockstep.proto.LockToTake;
import io.lockstep.proto.Manifest;
import io.lockstep.proto.OpKind;
import io.lockstep.proto.OpRecord;
import io.lockstep.proto.PrepareReply;
import io.lockstep.proto.PrepareRequest;
import io.lockstep.proto.ProcessRecord;
import io.lockstep.proto.ReleaseReply;
import io.lockstep.proto.ReleaseRequest;
import io.lockstep.proto.ServerMatch;
import io.lockstep.proto.StageReply;
import io.lockstep.proto.StageRequest;
import io.lockstep.proto.StagedProcess;
import io.lockstep.proto.StatusReply;
import io.lockstep.proto.StatusRequest;
import io.lockstep.proto.StopReply;
import io.lockstep.proto.ValidateReply;
import io.lockstep.proto.RollBackReply;
import io.lockstep.proto.RollBackRequest;
import io.lockstep.proto.SnapshotRecord;
import io.lockstep.proto.ValidateRequest;
import io.lockstep.zk.Decision;
import io.lockstep.zk.Phase;
import org.apache.curator.framework.api.transaction.CuratorOp;
import org.apache.zookeeper.CreateMode;
import org.apache.zookeeper.KeeperException;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.time.Instant;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Set;

import com.google.protobuf.ByteString;

/**
 * Restores a committed checkpoint (docs/DESIGN.md, "Restore"): validate every file on every target,
 * stage one stub per process, re-take every held lock in one global order (fast path in
 * parallel, strict order with bounded waits on conflict), decide, and only then release the
 * stubs into their restart commands.
 */
public final class RestoreOperation {
    private static final Logger LOG = LoggerFactory.getLogger(RestoreOperation.class);

    private final CoordinatorContext ctx;
    private final RestoreOptions options;
    /** The kind label of this operation in listeners, logs and metrics. */
    public static final String KIND = "restore";

    private final OperationListener listener;

    public RestoreOperation(CoordinatorContext ctx, RestoreOptions options, OperationListener listener) {
        this.ctx = ctx;
        this.options = options;
        this.listener = listener;
    }

    /** One source host's manifest: its stored bytes (sent to the agent as they are) and its parsed form. */
    private record SourceManifest(String sourceHost, String targetHost, ByteString framed, Manifest manifest) {
    }

    public RestoreResult run(String group) throws Exception {
        return OperationFrame.observe(KIND, group, listener, this::run, OperationListener::restoreCommitted);
    }

    private RestoreResult run(String group, OperationListener listener) throws Exception {
        new KnownGroups(ctx).require(group);
        try (OperationSession session = OperationSession.begin(ctx, group)) {
            CatalogEntry entry = new Catalog(ctx).resolve(group, options.checkpoint());
            requireMappedHostsRecorded(entry);
            List<SourceManifest> sources = loadManifests(group, entry);
            Set<String> targets = new LinkedHashSet<>();
            sources.forEach(source -> targets.add(source.targetHost()));
            List<StopReply> stopped = stopOrRefuseRunning(group, sources);
            try {
                return restore(session, group, entry, sources, targets, stopped, listener);
            } catch (OperationFailedException e) {
                if (stopped.isEmpty()) {
                    throw e;
                }
                // The operator asked to replace a running group, and now it neither runs nor is restored.
                throw new OperationFailedException(e.reason(), e.hostId().orElse(null), e.getMessage()
                        + "\n  the group is not running: --replace had stopped " + RestoreResult.describeStopped(stopped)
                        + " before the restore failed", e);
            }
        }
    }

    private RestoreResult restore(OperationSession session, String group, CatalogEntry entry, List<SourceManifest> sources,
                                  Set<String> targets, List<StopReply> stopped, OperationListener listener)
            throws Exception {
        Map<String, AgentClient> agents = session.agents(List.copyOf(targets));
        Instant deadline = ctx.clock().instant().plus(options.timeout());
        OpenedOperation op = session.open(OpRecord.newBuilder()
                .setKind(OpKind.RESTORE)
                .addAllParticipants(targets)
                .setCheckpointId(entry.getCheckpointId())
                .putAllHostMap(options.hostMap())
                .setDeadlineUnixMs(deadline.toEpochMilli())
                .setTimeoutMs(options.timeout().toMillis()));
        listener.opened(KIND, group, op.opId(), op.epoch());
        try (AgentFanout fanout = new AgentFanout(agents, listener)) {
            return new Run(session, op, fanout, entry, sources, deadline, stopped).execute();
        }
    }

    /** Before anything is staged: the group must not run on a source or target host (or, with --replace, is stopped). */
    private List<StopReply> stopOrRefuseRunning(String group, List<SourceManifest> sources) throws Exception {
        Set<String> involved = new LinkedHashSet<>();
        sources.forEach(source -> {
            involved.add(source.sourceHost());
            involved.add(source.targetHost());
        });
        RunningGroup running = new RunningGroup(ctx, group, options.rpcTimeout());
        List<StopReply> stopped = List.of();
        if (options.replaceGrace().isPresent()) {
            stopped = running.stop(involved, options.replaceGrace().get());
            if (!stopped.isEmpty()) {
                LOG.info("group {}: --replace stopped {}", group, stopped.stream().map(reply -> reply.getHostId() + " "
                        + reply.getTerminatedList() + " (SIGTERM) " + reply.getKilledList() + " (SIGKILL)").toList());
            }
        }
        // Also after a stop: a process that came back (or was started meanwhile) still refuses the restore.
        running.refuseIfRunning(involved);
        return stopped;
    }

    /** A host map naming a host the checkpoint has no manifest of is a mistake, not a no-op. */
    private void requireMappedHostsRecorded(CatalogEntry entry) {
        List<String> recorded = entry.getManifestsList().stream().map(CatalogManifest::getHostId).toList();
        options.hostMap().forEach((from, to) -> {
            if (!recorded.contains(from)) {
                throw new IllegalArgumentException("host map " + from + "=" + to + ": checkpoint " + entry.getCheckpointId()
                        + " has no manifest of host " + from + " (hosts: " + String.join(", ", recorded) + ")");
            }
        });
    }

    private List<SourceManifest> loadManifests(String group, CatalogEntry entry) throws OperationFailedException {
        List<SourceManifest> sources = new ArrayList<>();
        for (CatalogManifest stored : entry.getManifestsList()) {
            String host = stored.getHostId();
            try {
                byte[] framed = ctx.unsealFromStore(ctx.store().readVerified(group, entry.getCheckpointId(), host,
                        stored.getSha256(), stored.getSize()));
                Manifest manifest = ManifestCodec.decode(framed);
                sources.add(new SourceManifest(host, options.targetOf(host), ByteString.copyFrom(framed), manifest));
            } catch (java.io.IOException | ManifestFormatException e) {
                throw new OperationFailedException(FailureReason.CHECKPOINT_UNUSABLE, host, "checkpoint "
                        + entry.getCheckpointId() + ", manifest of host " + host + ": " + e.getMessage(), e);
            }
        }
        return sources;
    }

    /** What the release after COMMIT left undone: per host its failure, and the handed-over locks not taken again in time. */
    private record Released(Map<String, String> failures, List<String> handOverTimeouts) {
    }

    private final class Run extends OperationFrame<RestoreResult> {
        private final CatalogEntry entry;
        private final List<SourceManifest> sources;
        private final List<StopReply> stopped;
        /** Per source host: whether its agent is registered to roll back its copy snapshots (asked once). */
        private final Map<String, Boolean> copiesBySource = new java.util.HashMap<>();

        Run(OperationSession session, OpenedOperation op, AgentFanout fanout, CatalogEntry entry,
            List<SourceManifest> sources, Instant deadline, List<StopReply> stopped) {
            super(KIND, RestoreOperation.this.ctx, session, op, fanout, deadline);
            this.stopped = stopped;
            this.entry = entry;
            this.sources = sources;
        }

        @Override
        protected RestoreResult phases() throws Exception {
            Map<String, List<ServerMatch>> serverMatches = validate();
            reportLeftOut();
            rollBack();
            Map<String, List<Integer>> heldBack = waitersForHandedOverLocks();
            Map<String, List<StagedProcess>> staged = stage(heldBack);
            GlobalLockOrder order = new GlobalLockOrder(heldLocks());
            boolean fastPath = prepare(order);
            confirmSessionsHeld(order);
            decide();
            Released released = release(staged, !heldBack.isEmpty());
            Map<String, Integer> locksByHost = new LinkedHashMap<>();
            for (String host : fanout.hosts()) {
                locksByHost.put(host, order.forHost(host).size());
            }
            LOG.info("group {} op {} epoch {}: restore of {} COMMITTED ({} locks, {} path)", op.group(), op.opId(),
                    op.epoch(), entry.getCheckpointId(), order.size(), fastPath ? "fast" : "strict-order");
            return new RestoreResult(entry.getCheckpointId(), op.group(), op.opId(), op.epoch(), staged, locksByHost,
                    fastPath, fanout.phaseMicros(), stopped, serverMatches, released.failures(), released.handOverTimeouts());
        }

        /**
         * Every file of every manifest, on its target host, before anything is locked or started.
         *
         * @return per target host, how the recorded network exports were matched to its mounts
         */
        private Map<String, List<ServerMatch>> validate() throws Exception {
            long start = System.nanoTime();
            Map<String, List<FileProblem>> problems = new LinkedHashMap<>();
            Map<String, List<ServerMatch>> matches = new LinkedHashMap<>();
            fanout.expect("validate", sources.size());
            for (SourceManifest source : sources) {
                ValidateRequest request = ValidateRequest.newBuilder().setCtx(op.context()).setManifest(source.framed())
                        .addAllPathMaps(options.pathMaps()).setForce(options.force())
                        .setAllowRoot(options.allowRoot()).setSkipUnrestartable(options.skipUnrestartable())
                        .setRollBack(rollsBack(source)).setCopiesRolledBackBySource(copiesRolledBackBySource(source))
                        .addAllRolledBackByOthers(networkSnapshotsRolledBackBesides(source)).build();
                ValidateReply reply = fanout.on(List.of(source.targetHost()), "validate", FailureReason.VALIDATION_FAILED,
                        (host, agent) -> agent.validate(request, until(deadline)),
                        r -> r.getFilesChecked() + " files checked, " + r.getProblemsCount() + " problems")
                        .get(source.targetHost());
                if (!reply.getOk()) {
                    problems.computeIfAbsent(source.targetHost(), h -> new ArrayList<>()).addAll(reply.getProblemsList());
                }
                List<ServerMatch> onHost = matches.computeIfAbsent(source.targetHost(), h -> new ArrayList<>());
                for (ServerMatch match : reply.getServerMatchesList()) {
                    if (!onHost.contains(match)) {
                        onHost.add(match);
                        LOG.info("group {} op {}: host {}: {}", op.group(), op.opId(), source.targetHost(),
                                ValidationReport.describe(match));
                    }
                }
            }
            matches.values().removeIf(List::isEmpty);
            if (!problems.isEmpty()) {
                throw new OperationFailedException(FailureReason.VALIDATION_FAILED, problems.keySet().iterator().next(),
                        "restore refused by validation:" + ValidationReport.format(problems, matches));
            }
            fanout.phaseEnded("validate", start);
            return matches;
        }

        /**
         * With --skip-unrestartable, says before anything is staged (so before any release) which
         * processes are left out and which of their locks no stub takes; a warning, which the
         * command line prints.
         */
        private void reportLeftOut() {
            if (!options.skipUnrestartable()) {
                return;
            }
            for (SourceManifest source : sources) {
                for (String line : UnrestartableProcesses.leftOut(source.sourceHost(), source.targetHost(),
                        source.manifest())) {
                    LOG.warn("group {} op {}: {}", op.group(), op.opId(), line);
                }
            }
        }

        /**
         * Whether this manifest's snapshots are rolled back: by default when it has any; on a restore onto
         * another host only when some are on a network file system (the target's agent rolls back those it
         * reaches through its own mount of the export and names the others, whose files it validates as they
         * are: a copy snapshot lives in the taking agent's state directory, a local one on that host).
         */
        /** The network data-path snapshots that the other manifests' roll-backs put back. */
        private List<SnapshotRecord> networkSnapshotsRolledBackBesides(SourceManifest source) {
            List<SnapshotRecord> others = new ArrayList<>();
            for (SourceManifest other : sources) {
                if (other != source && rollsBack(other)) {
                    other.manifest().getSnapshotsList().stream().filter(SnapshotRecord::hasDataPathIdentity)
                            .map(s -> s.toBuilder().clearFiles().build()).forEach(others::add);
                }
            }
            return others;
        }

        private boolean rollsBack(SourceManifest source) {
            return !options.noRollBack() && source.manifest().getSnapshotsCount() > 0
                    && (source.sourceHost().equals(source.targetHost())
                    || source.manifest().getSnapshotsList().stream().anyMatch(SnapshotRecord::hasDataPathIdentity));
        }

        /**
         * A manifest restored elsewhere whose copy snapshots of network data paths the host that took them rolls
         * back (their content is in its copy store): when that host's agent is registered, asked once per source.
         */
        private boolean copiesRolledBackBySource(SourceManifest source) throws Exception {
            if (!rollsBack(source) || source.sourceHost().equals(source.targetHost())
                    || source.manifest().getSnapshotsList().stream().noneMatch(
                            s -> s.getEngine().equals("copy") && s.hasDataPathIdentity())) {
                return false;
            }
            return copiesBySource.computeIfAbsent(source.sourceHost(), host -> {
                try {
                    return ctx.directory().host(host).isPresent();
                } catch (Exception unreadable) {
                    return false;
                }
            });
        }

        /**
         * Puts every snapshotted data path back to the checkpoint's content, on the host that restores the
         * manifest, after validation and before any stub opens a file or takes a lock. A failure aborts the
         * restore; the agent's report names the data path and file, and what it had already rolled back.
         */
        private void rollBack() throws Exception {
            List<SourceManifest> withSnapshots = sources.stream().filter(this::rollsBack).toList();
            if (withSnapshots.isEmpty()) {
                return;
            }
            long start = System.nanoTime();
            fanout.expect("roll-back", withSnapshots.size());
            for (SourceManifest source : withSnapshots) {
                RollBackRequest request = RollBackRequest.newBuilder().setCtx(op.context()).setManifest(source.framed())
                        .setCheckpointId(entry.getCheckpointId()).addAllPathMaps(options.pathMaps()).build();
                RollBackReply reply = fanout.on(List.of(source.targetHost()), "roll-back", FailureReason.ROLLBACK_FAILED,
                        (host, agent) -> agent.rollBack(request, until(deadline)),
                        r -> r.getSnapshots() + " snapshots, " + r.getFilesCount() + " files put back, "
                                + r.getRemovedCount() + " removed").get(source.targetHost());
                LOG.info("group {} op {}: host {} rolled back {} snapshots of host {} ({} files put back, removed {})",
                        op.group(), op.opId(), source.targetHost(), reply.getSnapshots(), source.sourceHost(),
                        reply.getFilesCount(), reply.getRemovedList());
                reply.getSkippedList().forEach(skipped -> LOG.warn("group {} op {}: host {} did not roll back the {}",
                        op.group(), op.opId(), source.targetHost(), skipped));
                if (copiesRolledBackBySource(source)) {
                    // The taking host need not be a participant of the restore: called directly, not through the fanout.
                    RollBackRequest copies = request.toBuilder().setCopiesKeptHere(true).build();
                    RollBackReply byTaker;
                    try {
                        byTaker = ctx.clients().forHost(ctx.directory().host(source.sourceHost()).orElseThrow(() ->
                                new OperationFailedException(FailureReason.ROLLBACK_FAILED, source.sourceHost(), "host "
                                        + source.sourceHost() + ", which keeps the copy snapshots, left before the"
                                        + " roll-back")))
                                .rollBack(copies, until(deadline));
                    } catch (AgentCallException e) {
                        throw new OperationFailedException(FailureReason.ROLLBACK_FAILED, source.sourceHost(),
                                e.getMessage(), e);
                    }
                    LOG.info("group {} op {}: host {} rolled back its {} copy snapshots for host {} ({} files put back,"
                            + " removed {})", op.group(), op.opId(), source.sourceHost(), byTaker.getSnapshots(),
                            source.targetHost(), byTaker.getFilesCount(), byTaker.getRemovedList());
                }
            }
            fanout.phaseEnded("roll-back", start);
        }

        /**
         * Per source host, the recorded pids that wait for a flock/OFD lock another process held: the
         * holder's stub closes its descriptor at execve and its program takes the lock again, so such
         * a waiter is released only after that (or after the hand-over timeout).
         */
        private Map<String, List<Integer>> waitersForHandedOverLocks() {
            List<HeldLock> handedOver = new ArrayList<>();
            for (SourceManifest source : sources) {
                for (ProcessRecord process : source.manifest().getProcessesList()) {
                    for (LockRecord lock : LockHandOver.handedOver(process)) {
                        handedOver.add(new HeldLock(source.sourceHost(), source.targetHost(), process.getPid(), lock));
                    }
                }
            }
            Map<String, List<Integer>> waiters = new LinkedHashMap<>();
            for (SourceManifest source : sources) {
                for (ProcessRecord process : source.manifest().getProcessesList()) {
                    boolean waits = process.getLocksList().stream().filter(LockRecord::getWaiting).anyMatch(lock ->
                            handedOver.stream().anyMatch(holder -> conflicts(holder,
                                    new HeldLock(source.sourceHost(), source.targetHost(), process.getPid(), lock))));
                    if (waits) {
                        restoredAs(source.manifest(), process).ifPresent(pid -> {
                            List<Integer> host = waiters.computeIfAbsent(source.sourceHost(), h -> new ArrayList<>());
                            if (!host.contains(pid)) {
                                host.add(pid);
                            }
                        });
                    }
                }
            }
            return waiters;
        }

        /**
         * The recorded pid whose stub brings {@code process} back: itself, or, for a process skipped
         * as unrestartable (a child the program forked, e.g. the {@code flock -x 9} of a shell), its
         * nearest ancestor in the manifest that is restored, whose restarted program forks it again.
         * Holding that ancestor back keeps the re-forked waiter from the lock until its holder has it.
         */
        private Optional<Integer> restoredAs(Manifest manifest, ProcessRecord process) {
            Map<Integer, ProcessRecord> byPid = new HashMap<>();
            manifest.getProcessesList().forEach(p -> byPid.put(p.getPid(), p));
            Set<Integer> seen = new HashSet<>();
            for (ProcessRecord at = process; at != null && seen.add(at.getPid()); at = byPid.get(at.getPpid())) {
                if (at.hasRestart() || !options.skipUnrestartable()) {
                    return Optional.of(at.getPid());
                }
            }
            return Optional.empty();
        }

        private Map<String, List<StagedProcess>> stage(Map<String, List<Integer>> heldBack) throws Exception {
            long start = System.nanoTime();
            Map<String, List<StagedProcess>> staged = new LinkedHashMap<>();
            fanout.expect("stage", sources.size());
            for (SourceManifest source : sources) {
                StageRequest request = StageRequest.newBuilder().setCtx(op.context()).setManifest(source.framed())
                        .addAllPathMaps(options.pathMaps()).setCheckpointId(entry.getCheckpointId())
                        .setAllowRoot(options.allowRoot()).setSkipUnrestartable(options.skipUnrestartable())
                        .addAllHoldBackPids(heldBack.getOrDefault(source.sourceHost(), List.of()))
                        .setHandOverTimeoutMs(options.rpcTimeout().toMillis()).build();
                StageReply reply = fanout.on(List.of(source.targetHost()), "stage", FailureReason.STAGE_FAILED,
                        (host, agent) -> agent.stage(request, until(deadline)),
                        r -> r.getStubsCount() + " stubs staged").get(source.targetHost());
                staged.computeIfAbsent(source.targetHost(), h -> new ArrayList<>()).addAll(reply.getStubsList());
            }
            fanout.phaseEnded("stage", start);
            return staged;
        }

        private List<HeldLock> heldLocks() {
            List<HeldLock> held = new ArrayList<>();
            for (SourceManifest source : sources) {
                for (ProcessRecord process : source.manifest().getProcessesList()) {
                    if (options.skipUnrestartable() && !process.hasRestart()) {
                        continue;
                    }
                    for (LockRecord lock : process.getLocksList()) {
                        if (!lock.getWaiting() && isRestorable(lock.getKind())) {
                            held.add(new HeldLock(source.sourceHost(), source.targetHost(), process.getPid(), lock));
                        }
                    }
                }
            }
            return held;
        }

        /**
         * Phase 1. Fast path: every host takes its locks non-blocking, in global order, in parallel.
         * On any conflict everything is released and the locks are taken in strict global order
         * across hosts, each wait bounded by the deadline.
         *
         * @return true when the fast path sufficed
         */
        private boolean prepare(GlobalLockOrder order) throws Exception {
            long start = System.nanoTime();
            Map<String, PrepareReply> fast = new LinkedHashMap<>();
            fanout.bestEffort("prepare", (host, agent) -> agent.prepare(PrepareRequest.newBuilder()
                    .setCtx(op.context()).addAllLocks(order.forHost(host)).setBlocking(false).setLast(true)
                    .setTimeoutMs(until(deadline).toMillis()).build(), until(deadline))).forEach((host, outcome) -> {
                        if (outcome.ok()) {
                            fast.put(host, outcome.value());
                        }
                    });
            boolean allPrepared = fast.size() == fanout.hosts().size()
                    && fast.values().stream().allMatch(PrepareReply::getPrepared);
            if (!allPrepared) {
                List<String> conflicts = new ArrayList<>();
                fast.forEach((host, reply) -> reply.getConflictsList().forEach(c -> conflicts.add(describe(host, c))));
                LOG.info("op {}: fast-path prepare met conflicts {}; strict global order", op.opId(), conflicts);
                releaseFastPathLocks();
                prepareInStrictOrder(order);
            }
            awaitPrepared();
            fanout.phaseEnded("prepare", start);
            return allPrepared;
        }

        /**
         * Before the ordered run every host gives back every lock its fast path took, all at once: a
         * lock kept until that host's first ordered round could be the one an outsider waits for
         * while it holds a lock an earlier round waits for (both would wait until the deadline).
         */
        private void releaseFastPathLocks() throws Exception {
            PrepareRequest request = PrepareRequest.newBuilder().setCtx(op.context()).setReset(true).setBlocking(false)
                    .setLast(false).setTimeoutMs(until(deadline).toMillis()).build();
            fanout.all("prepare (release fast-path locks)", FailureReason.LOCK_CONFLICT,
                    (host, agent) -> agent.prepare(request, until(deadline)), r -> "fast-path locks released");
        }

        private void prepareInStrictOrder(GlobalLockOrder order) throws Exception {
            Set<String> finished = new LinkedHashSet<>();
            for (GlobalLockOrder.Run run : order.runs()) {
                prepareRun(run.targetHost(), run.locks(), run.lastForHost());
                if (run.lastForHost()) {
                    finished.add(run.targetHost());
                }
            }
            for (String host : fanout.hosts()) {
                if (!finished.contains(host)) {
                    // A host without locks (or whose locks all came earlier) still has to report prepared.
                    prepareRun(host, List.of(), true);
                }
            }
        }

        private void prepareRun(String host, List<LockToTake> locks, boolean last) throws Exception {
            PrepareRequest request = PrepareRequest.newBuilder().setCtx(op.context()).addAllLocks(locks)
                    .setBlocking(true).setLast(last).setTimeoutMs(until(deadline).toMillis())
                    .build();
            PrepareReply reply = fanout.on(List.of(host), "prepare (strict order)", FailureReason.LOCK_CONFLICT,
                    (h, agent) -> agent.prepare(request, until(deadline).plus(options.rpcTimeout())),
                    r -> r.getLocksTaken() + " locks held").get(host);
            if (!reply.getPrepared()) {
                List<String> conflicts = new ArrayList<>();
                reply.getConflictsList().forEach(c -> conflicts.add(describe(host, c)));
                throw new OperationFailedException(FailureReason.LOCK_CONFLICT, host, "lock conflict on host " + host
                        + " not resolved by the deadline: " + String.join("; ", conflicts));
            }
        }

        private void awaitPrepared() throws Exception {
            Set<String> missing = new PhaseBarrier(ctx.zk(), ctx.layout(), ctx.clock())
                    .await(op.group(), op.opId(), Phase.PREPARED, fanout.hosts(), deadline);
            if (!missing.isEmpty()) {
                throw new OperationFailedException(FailureReason.TIMEOUT, missing.iterator().next(),
                        "prepared barrier not full by the deadline: missing " + missing);
            }
        }

        /**
         * A prepared/<host> node outlives its agent by a session timeout, but the stubs (and their
         * locks) die with the agent at once: right before the commit every agent must still answer
         * and still hold this op's restore session with every stub alive and holding every lock
         * planned for that host (the agent looks each one up in its stub's fdinfo), or the restore aborts
         * instead of committing a host whose processes are gone. (An agent or stub dying in the few
         * milliseconds between this round and the commit is still missed; its release then fails
         * and the committed restore reports it.)
         */
        private void confirmSessionsHeld(GlobalLockOrder order) throws Exception {
            StatusRequest request = StatusRequest.newBuilder().setGroup(op.group()).build();
            fanout.all("confirm", FailureReason.AGENT_UNAVAILABLE, (host, agent) -> {
                StatusReply reply = agent.status(request, options.rpcTimeout());
                GroupStatus status = reply.getGroupsList().stream()
                        .filter(group -> group.getCurrentOp().equals(op.opId())).findFirst()
                        .orElseThrow(() -> new OperationFailedException(FailureReason.AGENT_UNAVAILABLE, host, "host "
                                + host + " no longer holds the stubs of " + op.opId()
                                + " (its agent restarted, or ended the restore on its own)"));
                if (status.getStubsGoneCount() > 0) {
                    throw new OperationFailedException(FailureReason.STAGE_FAILED, host, "host " + host + ": "
                            + String.join("; ", status.getStubsGoneList()) + " after prepare; its locks are gone, so "
                            + "the restore aborts rather than release a waiter before its holder");
                }
                if (status.getLocksMissingCount() > 0) {
                    throw new OperationFailedException(FailureReason.STAGE_FAILED, host, "host " + host + ": "
                            + String.join("; ", status.getLocksMissingList()) + " after prepare, so the restore aborts "
                            + "rather than release a waiter before its holder");
                }
                int planned = order.forHost(host).size();
                // An agent of an earlier release does not report the locks its stubs hold.
                boolean reportsLocks = reply.getCapabilitiesList().contains(CONFIRMS_LOCKS);
                if (reportsLocks && status.getLocksHeld() != planned) {
                    throw new OperationFailedException(FailureReason.STAGE_FAILED, host, "host " + host + ": its stubs "
                            + "hold " + status.getLocksHeld() + " of the " + planned + " locks planned for it after "
                            + "prepare, so the restore aborts rather than release a waiter before its holder");
                }
                return status;
            }, status -> status.getStubs() + " stubs alive, " + status.getLocksHeld() + " locks held");
        }

        /** Phase 2: one multi that checks every prepared/<host> and creates COMMIT. */
        private void decide() throws Exception {
            long start = System.nanoTime();
            List<CuratorOp> ops = new ArrayList<>();
            // The owner node lives as long as this coordinator's session, and with it the group lock.
            ops.add(ctx.zk().transactionOp().check().forPath(ctx.layout().owner(op.group(), op.opId())));
            for (String host : fanout.hosts()) {
                ops.add(ctx.zk().transactionOp().check().forPath(
                        ctx.layout().phaseEntry(op.group(), op.opId(), Phase.PREPARED, host)));
            }
            ops.add(ctx.zk().transactionOp().create().withMode(CreateMode.PERSISTENT)
                    .forPath(ctx.layout().decision(op.group(), op.opId()), Decision.commit().toBytes()));
            try {
                commitMulti(ops);
            } catch (KeeperException e) {
                throw new OperationFailedException(FailureReason.COMMIT_FAILED, null, "restore commit refused: a host "
                        + "is no longer prepared (session expired), this coordinator's owner node or group lock is gone "
                        + "(its session expired), a later operation opened the group, or the op was aborted: " + e.getMessage(), e);
            }
            fanout.phaseEnded("commit", start);
        }

        /**
         * After COMMIT: every stub execs its program; the waiters for handed-over locks in a second
         * round, once the first round's programs hold those locks again (each agent answers the first
         * round only then) or the hand-over timeout (the RPC timeout) passed. When the first round
         * failed on any host, the second is not sent: the agents release their held-back waiters
         * after the hand-over timeout, so no waiter can take a lock before its holder. A host whose release
         * failed, or released fewer processes than it staged (a stub died after the confirm round),
         * is reported: the restore is committed, but not every process runs, and that is never
         * plain success.
         */
        private Released release(Map<String, List<StagedProcess>> staged, boolean waitersHeldBack) {
            long start = System.nanoTime();
            Map<String, String> failures = new LinkedHashMap<>();
            Map<String, Integer> releasedCount = new LinkedHashMap<>();
            List<String> timeouts = new ArrayList<>();
            releaseRound(false, failures, releasedCount, timeouts);
            // A host whose release failed may not have its programs holding their handed-over locks
            // yet: waiters released now could take such a lock first, and the holder would wait for
            // ever. Then each agent releases its held-back waiters after the hand-over timeout.
            boolean waitersLeftToAgents = waitersHeldBack && !failures.isEmpty();
            if (waitersHeldBack && !waitersLeftToAgents) {
                releaseRound(true, failures, releasedCount, timeouts);
            }
            Set<String> failedFirst = Set.copyOf(failures.keySet());
            staged.forEach((host, processes) -> {
                int released = releasedCount.getOrDefault(host, 0);
                if (!failures.containsKey(host) && released < processes.size()) {
                    failures.put(host, "released " + released + " of " + processes.size() + " staged processes"
                            + (waitersLeftToAgents ? "; the waiters held back for handed-over locks are released by"
                            + " the agent after the hand-over timeout (" + options.rpcTimeout().toMillis()
                            + " ms and its session timeout), since the release failed on host(s) "
                            + String.join(", ", failedFirst) : " (a stub ended before the release)"));
                }
            });
            failures.forEach((host, failure) -> LOG.error("op {}: committed, but the release on host {} failed: {}",
                    op.opId(), host, failure));
            fanout.phaseEnded("release", start);
            return new Released(failures, timeouts);
        }

        private void releaseRound(boolean heldBack, Map<String, String> failures, Map<String, Integer> releasedCount,
                                  List<String> timeouts) {
            ReleaseRequest request = ReleaseRequest.newBuilder().setCtx(op.context()).setCommit(true)
                    .setHeldBack(heldBack).build();
            String phase = heldBack ? "release held-back waiters" : "release";
            // An agent answers once its programs took their handed-over locks again: up to one more RPC timeout.
            fanout.bestEffort(phase, (host, agent) -> agent.release(request, options.rpcTimeout().multipliedBy(2)))
                    .forEach((host, outcome) -> {
                        if (!outcome.ok()) {
                            failures.putIfAbsent(host, phase + ": " + ParallelCalls.describe(outcome.failure()));
                            return;
                        }
                        releasedCount.merge(host, outcome.value().getReleasedCount(), Integer::sum);
                        for (HandOver handOver : outcome.value().getHandOversList()) {
                            if (!heldBack && !handOver.getTakenAgain()) {
                                String lost = describe(host, handOver);
                                timeouts.add(lost);
                                LOG.warn("op {}: hand-over timeout: {}; its waiters are released anyway", op.opId(), lost);
                            }
                        }
                    });
        }

        @Override
        protected void tellAgentsAborted(Decision standing) {
            ReleaseRequest request = ReleaseRequest.newBuilder().setCtx(op.context()).setCommit(false).build();
            fanout.bestEffort("abort", (host, agent) -> agent.release(request, options.rpcTimeout())).values().stream()
                    .filter(outcome -> !outcome.ok())
                    .forEach(outcome -> LOG.warn("op {}: abort not delivered, the agent aborts on the decision: {}",
                            op.opId(), ParallelCalls.describe(outcome.failure())));
        }
    }

    /** The capability of an agent whose Status reports the locks its stubs hold (GroupStatus.locks_held). */
    static final String CONFIRMS_LOCKS = "confirm=locks";

    static boolean isRestorable(LockKind kind) {
        return kind == LockKind.POSIX || kind == LockKind.OFD || kind == LockKind.FLOCK;
    }

    /** A flock/OFD holder and a waiter of another process for an overlapping range of the same file, one of them WRITE. */
    static boolean conflicts(HeldLock holder, HeldLock waiter) {
        LockRecord h = holder.lock();
        LockRecord w = waiter.lock();
        boolean sameProcess = holder.sourceHost().equals(waiter.sourceHost()) && holder.oldPid() == waiter.oldPid();
        boolean sameFamily = (h.getKind() == LockKind.FLOCK) == (w.getKind() == LockKind.FLOCK);
        boolean overlap = h.getKind() == LockKind.FLOCK
                || w.getStart() <= holder.endKey() && h.getStart() <= waiter.endKey();
        return !sameProcess && sameFamily && overlap && holder.fileKey().equals(waiter.fileKey())
                && (h.getType() == LockType.WRITE || w.getType() == LockType.WRITE);
    }

    static String describe(String host, HandOver handOver) {
        LockRecord lock = handOver.getLock();
        return lock.getKind() + " " + lock.getType() + " lock on " + handOver.getPath() + " [" + lock.getStart() + ".."
                + (lock.getEnd() < 0 ? "EOF" : lock.getEnd()) + "] (pid " + handOver.getOldPid() + " of host "
                + handOver.getSourceHostId() + ") not taken again by its restarted program pid " + handOver.getNewPid()
                + " on host " + host + " in time";
    }

    static String describe(String host, LockConflict conflict) {
        String end = conflict.getEnd() < 0 ? "EOF" : Long.toString(conflict.getEnd());
        String holder = conflict.getHolderPid() > 0 ? "pid " + conflict.getHolderPid() : "an unknown process (OFD/flock)";
        return conflict.getType() + " range [" + conflict.getStart() + ".." + end + "] of " + conflict.getPath()
                + " (" + conflict.getIdentity() + ") on host " + host + " is held by " + holder
                + (conflict.getHostId().isEmpty() ? "" : " on host " + conflict.getHostId());
    }
}
