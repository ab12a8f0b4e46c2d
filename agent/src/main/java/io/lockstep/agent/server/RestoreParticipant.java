package io.lockstep.agent.server;

import io.grpc.Status;
import io.lockstep.manifest.LockHandOver;
import io.lockstep.manifest.ManifestCodec;
import io.lockstep.agent.proc.MountTable;
import io.lockstep.agent.restore.FileHandles;
import io.lockstep.agent.restore.FileValidator;
import io.lockstep.agent.restore.PlanRefusedException;
import io.lockstep.agent.restore.PrepareOutcome;
import io.lockstep.agent.restore.StubBinary;
import io.lockstep.agent.restore.StubHandle;
import io.lockstep.agent.restore.StubLauncher;
import io.lockstep.agent.restore.StubPlanner;
import io.lockstep.files.PrivateFiles;
import io.lockstep.names.RawNames;
import io.lockstep.proto.AbortRequest;
import io.lockstep.proto.FileProblem;
import io.lockstep.proto.HandOver;
import io.lockstep.proto.LockConflict;
import io.lockstep.proto.LockRecord;
import io.lockstep.proto.LockToTake;
import io.lockstep.proto.Manifest;
import io.lockstep.proto.OpContext;
import io.lockstep.proto.OpRecord;
import io.lockstep.proto.PrepareReply;
import io.lockstep.proto.PrepareRequest;
import io.lockstep.proto.ProcessRecord;
import io.lockstep.proto.ReleaseReply;
import io.lockstep.proto.ReleaseRequest;
import io.lockstep.proto.RestartSpec;
import io.lockstep.proto.ServerMatch;
import io.lockstep.proto.StageReply;
import io.lockstep.proto.StageRequest;
import io.lockstep.proto.StagedStubRecord;
import io.lockstep.proto.StagedProcess;
import io.lockstep.proto.StubPlan;
import io.lockstep.proto.ValidateReply;
import io.lockstep.proto.RollBackReply;
import io.lockstep.proto.RollBackRequest;
import io.lockstep.proto.RolledBackFile;
import io.lockstep.proto.SnapshotRecord;
import io.lockstep.agent.snapshot.GroupSnapshots;
import io.lockstep.agent.snapshot.RollBackReport;
import io.lockstep.agent.snapshot.SnapshotException;
import io.lockstep.proto.ValidateRequest;
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
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Instant;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;

/**
 * This host's part of a restore: validate files, stage one stub per recorded process, take the
 * held locks in the order the coordinator gives, and release the stubs — into their restart
 * commands only once COMMIT stands, otherwise into exit.
 */
public final class RestoreParticipant {
    /** Per group: what the newest restore released here (see {@link #releasedBefore}). */
    private final Map<String, LastRelease> lastRelease = new java.util.concurrent.ConcurrentHashMap<>();

    private static final Logger LOG = LoggerFactory.getLogger(RestoreParticipant.class);
    /** Stubs are small native processes; starting several at once hides each start's round trips. */
    private static final int PARALLEL_STUB_STARTS = 8;
    /** A Release waiting for a release under way answers this long before the caller gives up. */
    private static final long RELEASE_REPLY_MARGIN_MILLIS = 1000;

    private final AgentConfig config;
    private final CuratorFramework zk;
    private final ZkLayout layout;
    private final OpAdmission admission;
    private final GroupRegistry groups;
    private final AgentRegistration registration;
    private final ScheduledExecutorService timer;
    private StubBinary stubBinary;
    private final GroupSnapshots snapshots;
    private final HandOverMarks marks;

    public RestoreParticipant(AgentConfig config, CuratorFramework zk, ZkLayout layout, OpAdmission admission,
                              GroupRegistry groups, AgentRegistration registration, ScheduledExecutorService timer) {
        this.config = config;
        this.zk = zk;
        this.layout = layout;
        this.admission = admission;
        this.groups = groups;
        this.registration = registration;
        this.timer = timer;
        this.snapshots = CaptureSnapshots.groupSnapshots(config);
        this.marks = new HandOverMarks(config, zk, layout, timer);
    }

    private IdentityPathResolver resolver(List<io.lockstep.proto.PathMapping> maps) throws IOException {
        return new IdentityPathResolver(MountTable.read("self").withNetworkTypes(config.networkFsTypes()),
                config.hostId(), maps, config.serverNames(), FileHandles.NATIVE);
    }

    public ValidateReply validate(ValidateRequest request) throws Exception {
        admission.admitNew(request.getCtx());
        Manifest manifest = ManifestCodec.decode(request.getManifest().toByteArray());
        IdentityPathResolver resolver = resolver(request.getPathMapsList());
        FileValidator.Report report = new FileValidator(resolver, FileHandles.NATIVE).check(manifest, request.getForce());
        List<FileProblem> problems = report.problems();
        for (ServerMatch match : report.matches()) {
            LOG.info("group {} op {} host {}: recorded export {} found through {} ({})", request.getCtx().getGroup(),
                    request.getCtx().getOpId(), config.hostId(), match.getRecorded(), match.getLocal(),
                    MountTable.ruleText(match));
        }
        List<SnapshotRecord> rolledBack = new ArrayList<>(
                SnapshotsOnThisHost.locatedHere(request.getRolledBackByOthersList(), resolver));
        if (request.getRollBack() && manifest.getSnapshotsCount() > 0) {
            rolledBack.addAll(SnapshotsOnThisHost.covered(manifest, config.hostId(), resolver,
                    request.getCopiesRolledBackBySource()));
        }
        if (!rolledBack.isEmpty()) {
            problems = rolledBackNotFatal(problems, rolledBack);
        }
        if (problems.stream().noneMatch(FileProblem::getFatal)) {
            problems.addAll(planRefusals(manifest, new StubPlanner(resolver, config.allowedRoots()), request));
        }
        boolean ok = problems.stream().noneMatch(FileProblem::getFatal);
        int files = manifest.getProcessesList().stream().mapToInt(ProcessRecord::getFdsCount).sum();
        LOG.info("group {} op {} epoch {} host {}: validated {} fds of host {}: {} problems{}", request.getCtx().getGroup(),
                request.getCtx().getOpId(), request.getCtx().getEpoch(), config.hostId(), files, manifest.getHostId(),
                problems.size(), ok ? "" : " (refused)");
        return ValidateReply.newBuilder().setHostId(config.hostId()).setOk(ok).addAllProblems(problems)
                .setFilesChecked(files).addAllServerMatches(report.matches()).build();
    }

    /**
     * A problem with a file inside a snapshotted data path is not fatal when the restore rolls back: the
     * roll-back puts the file back as it was at the checkpoint before any stub opens it.
     */
    private static List<FileProblem> rolledBackNotFatal(List<FileProblem> problems, List<SnapshotRecord> rolledBack) {
        List<FileProblem> kept = new java.util.ArrayList<>();
        for (FileProblem problem : problems) {
            Optional<SnapshotRecord> covering = rolledBack.stream()
                    .filter(s -> java.nio.file.Path.of(problem.getPath()).startsWith(s.getDataPath())).findFirst();
            kept.add(covering.isEmpty() || !problem.getFatal() ? problem : problem.toBuilder().setFatal(false)
                    .setProblem(problem.getProblem() + " (rolled back from the " + covering.get().getEngine()
                            + " snapshot of " + covering.get().getDataPath() + ")").build());
        }
        return kept;
    }

    /**
     * Rolls back every snapshot of the manifest, after validation and before any stub opens a file: each
     * data path is replaced file by file atomically, or, on failure, left as it was (the error says which).
     */
    public RollBackReply rollBack(RollBackRequest request) throws Exception {
        OpContext op = request.getCtx();
        admission.admit(op);
        Manifest manifest = ManifestCodec.decode(request.getManifest().toByteArray());
        List<String> skipped = new ArrayList<>();
        List<SnapshotRecord> here = request.getCopiesKeptHere()
                ? SnapshotsOnThisHost.copiesKeptHere(manifest, config.hostId())
                : SnapshotsOnThisHost.rollBackable(manifest, config.hostId(), resolver(request.getPathMapsList()), skipped);
        List<RollBackReport> reports;
        try {
            reports = snapshots.rollBackAll(request.getCheckpointId(), here);
        } catch (SnapshotException e) {
            throw Status.ABORTED.withDescription("roll-back on host " + config.hostId() + " of checkpoint "
                    + request.getCheckpointId() + " failed: " + e.getMessage()).asRuntimeException();
        }
        RollBackReply.Builder reply = RollBackReply.newBuilder().setHostId(config.hostId())
                .setSnapshots(here.size()).addAllSkipped(skipped);
        GroupSnapshots.digests(reports).forEach((path, sha256) ->
                reply.addFiles(RolledBackFile.newBuilder().setPath(path).setSha256(sha256)));
        for (RollBackReport report : reports) {
            report.removed().forEach(r -> reply.addRemoved(report.dataPath().resolve(r).toString()));
        }
        LOG.info("group {} op {} host {}: rolled back {} snapshots of checkpoint {} ({} files put back, {} created since"
                + " removed); not rolled back: {}", op.getGroup(), op.getOpId(), config.hostId(), here.size(),
                request.getCheckpointId(), reply.getFilesCount(), reply.getRemovedCount(), skipped);
        return reply.build();
    }

    /**
     * Validation also asks the stub planner, without starting anything, so that a manifest it
     * would refuse (fd numbers, paths outside the allowed roots, links, uid 0, bad locks) is
     * refused in the validation report, before any stub exists.
     */
    private List<FileProblem> planRefusals(Manifest manifest, StubPlanner planner, ValidateRequest request) {
        List<FileProblem> refusals = new ArrayList<>();
        boolean allowRoot = request.getAllowRoot() && config.allowRoot();
        for (ProcessRecord process : manifest.getProcessesList()) {
            if (!process.hasRestart() && request.getSkipUnrestartable()) {
                continue;
            }
            try {
                planner.plan(process, "validation", allowRoot);
            } catch (PlanRefusedException e) {
                refusals.add(FileProblem.newBuilder().setPath("process " + process.getPid())
                        .setIdentity("recorded on host " + manifest.getHostId())
                        .setProblem("refused: " + e.getMessage()).setFatal(true).build());
            }
        }
        return refusals;
    }

    public StageReply stage(StageRequest request) throws Exception {
        OpContext op = request.getCtx();
        OpRecord record = LocalDeadline.onThisClock(admission.admitNew(op));
        Manifest manifest = ManifestCodec.decode(request.getManifest().toByteArray());
        boolean allowRoot = request.getAllowRoot() && config.allowRoot();
        // Every process is planned (and a hostile one refused) before the group or any stub exists.
        StubPlanner planner = new StubPlanner(resolver(request.getPathMapsList()), config.allowedRoots());
        List<ProcessRecord> toStage = new ArrayList<>();
        for (ProcessRecord process : manifest.getProcessesList()) {
            if (!process.hasRestart() && request.getSkipUnrestartable()) {
                LOG.warn("op {} host {}: skipping pid {} of host {}: no restart spec", op.getOpId(), config.hostId(),
                        process.getPid(), manifest.getHostId());
                continue;
            }
            toStage.add(process);
        }
        List<StubPlan> plans = new ArrayList<>();
        for (ProcessRecord process : toStage) {
            plans.add(planner.plan(process, request.getCheckpointId(), allowRoot));
        }
        // A group this restore creates (it never existed on this host) belongs to whom it belonged to where captured.
        ManagedGroup group = groups.open(op.getGroup(), manifest.hasGroupOwnerUid() ? manifest.getGroupOwnerUid()
                : GroupRegistry.ROOT);
        RestoreSession session = openSession(group, op, record);
        if (request.getHandOverTimeoutMs() > 0) {
            session.handOverTimeout(java.time.Duration.ofMillis(request.getHandOverTimeoutMs()));
        }
        synchronized (group) {
            for (int pid : request.getHoldBackPidsList()) {
                session.heldBack().add(new RestoreSession.Recorded(manifest.getHostId(), pid));
            }
        }
        Instant deadline = Instant.ofEpochMilli(record.getDeadlineUnixMs());
        Path logs = groups.logDir(group.name());
        PrivateFiles.createDirectories(logs);
        Path stdioLog = PrivateFiles.createFileIfAbsent(logs.resolve("restore-" + op.getOpId() + ".log"));
        List<String> enterGroup = new ArrayList<>(group.cgroup().entryCommand());
        enterGroup.addAll(PrivateFiles.inheritedUmaskPrefix());
        StubLauncher launcher = new StubLauncher(stubBinary(), config.stateDir().resolve("stubs"), enterGroup,
                Optional.of(stdioLog), logs);
        ExecutorService pool = Executors.newFixedThreadPool(PARALLEL_STUB_STARTS);
        StageReply.Builder reply = StageReply.newBuilder().setHostId(config.hostId());
        try {
            List<Future<StubHandle>> started = new ArrayList<>();
            for (StubPlan plan : plans) {
                started.add(pool.submit(() -> {
                    StubHandle handle = launcher.launch(plan, deadline);
                    try {
                        handle.stage(deadline);
                    } catch (IOException e) {
                        handle.close();
                        throw e;
                    }
                    return handle;
                }));
            }
            Exception firstFailure = null;
            for (int i = 0; i < started.size(); i++) {
                try {
                    StubHandle handle = started.get(i).get();
                    ProcessRecord process = toStage.get(i);
                    String endedBy;
                    synchronized (group) {
                        endedBy = group.restore() == session ? session.endedBy() : "the session was ended";
                        if (endedBy == null) {
                            session.stubs().put(new RestoreSession.Recorded(manifest.getHostId(), process.getPid()),
                                    new RestoreSession.Staged(process, handle));
                        }
                    }
                    if (endedBy != null) {
                        // The restore ended (owner lost, max timer, an abort after a stage timeout) while
                        // this stub started: nobody would release or end it, so it ends here.
                        handle.close();
                        if (firstFailure == null) {
                            firstFailure = Status.ABORTED.withDescription("op " + op.getOpId() + " on host "
                                    + config.hostId() + " ended while its stubs were being staged (" + endedBy
                                    + "); its stubs that started meanwhile were ended").asRuntimeException();
                        }
                        continue;
                    }
                    recordForASuccessor(op, manifest.getHostId(), process, handle,
                            request.getHoldBackPidsList().contains(process.getPid()));
                    reply.addStubs(StagedProcess.newBuilder().setOldPid(process.getPid()).setNewPid(handle.pid())
                            .setSourceHostId(manifest.getHostId()));
                } catch (java.util.concurrent.ExecutionException e) {
                    if (firstFailure == null) {
                        firstFailure = e.getCause() instanceof Exception cause ? cause : e;
                    }
                }
            }
            if (firstFailure != null) {
                throw firstFailure;
            }
        } finally {
            pool.shutdown();
        }
        LOG.info("group {} op {} epoch {} host {}: staged {} stubs for host {}", op.getGroup(), op.getOpId(),
                op.getEpoch(), config.hostId(), plans.size(), manifest.getHostId());
        return reply.build();
    }

    /**
     * Before the stub can be prepared (and so outlive this agent, see {@link OrphanStubs}): what a
     * restarted agent needs to carry the op's decision out on it.
     */
    private void recordForASuccessor(OpContext op, String sourceHost, ProcessRecord process, StubHandle handle,
                                     boolean heldBack) throws IOException {
        StubPlan plan = handle.plan();
        OrphanStubs.record(config.stateDir(), StagedStubRecord.newBuilder().setCtx(op).setSourceHostId(sourceHost)
                .setOldPid(process.getPid()).setStubPid(handle.pid())
                .setStubStartUnixMs(handle.process().info().startInstant().map(Instant::toEpochMilli).orElse(0L))
                .setRestart(restartSpec(process, handle)).setHeldBack(heldBack).build());
    }

    /** The recorded spec with this host's cwd and output file, not the plan: the plan's environment holds the env file's variables. */
    private static RestartSpec restartSpec(ProcessRecord process, StubHandle handle) {
        return process.getRestart().toBuilder().setCwd(handle.plan().getCwd())
                .setOutputLog(handle.outputLog().map(Path::toString).orElse("")).build();
    }

    private synchronized StubBinary stubBinary() throws IOException {
        if (stubBinary == null) {
            stubBinary = StubBinary.installed(config.stateDir());
        }
        return stubBinary;
    }

    private RestoreSession openSession(ManagedGroup group, OpContext op, OpRecord record) {
        synchronized (group) {
            RestoreSession session = group.restore();
            if (session != null) {
                if (session.op().getOpId().equals(op.getOpId())) {
                    return session;
                }
                throw Status.FAILED_PRECONDITION.withDescription("group " + op.getGroup() + " on host " + config.hostId()
                        + " is being restored by op " + session.op().getOpId()).asRuntimeException();
            }
            RestoreSession created = new RestoreSession(op, record.getDeadlineUnixMs());
            OpWatch watch = new OpWatch(zk, layout, op, config.hostId(), config.sessionTimeout(), timer, false,
                    verdict -> finishQuietly(group, op, verdict.committed(), verdict.reason(), false));
            created.watch(watch);
            group.restore(created);
            long maxTime = Math.max(1, record.getDeadlineUnixMs() - System.currentTimeMillis())
                    + config.minimumMaxFrozen().toMillis();
            watch.start(java.time.Duration.ofMillis(maxTime));
            return created;
        }
    }

    public PrepareReply prepare(PrepareRequest received) throws Exception {
        PrepareRequest request = LocalDeadline.onThisClock(received);
        OpContext op = request.getCtx();
        admission.admit(op);
        long start = System.nanoTime();
        ManagedGroup group = requireSession(op);
        RestoreSession session = group.restore();
        Instant deadline = Instant.ofEpochMilli(request.getDeadlineUnixMs());
        if (request.getReset()) {
            for (RestoreSession.Staged staged : session.stubs().values()) {
                staged.handle().reset(deadline);
                synchronized (group) {
                    staged.taken().clear();
                }
            }
        }
        PrepareReply.Builder reply = PrepareReply.newBuilder().setHostId(config.hostId());
        int taken = 0;
        List<LockToTake> locks = request.getLocksList();
        int i = 0;
        while (i < locks.size()) {
            // Consecutive locks of the same stub go in one round trip, still in global order.
            RestoreSession.Recorded who = new RestoreSession.Recorded(locks.get(i).getSourceHostId(), locks.get(i).getOldPid());
            List<LockRecord> batch = new ArrayList<>();
            while (i < locks.size() && locks.get(i).getSourceHostId().equals(who.sourceHost())
                    && locks.get(i).getOldPid() == who.oldPid()) {
                batch.add(locks.get(i).getLock());
                i++;
            }
            RestoreSession.Staged staged = session.stubs().get(who);
            if (staged == null) {
                throw Status.FAILED_PRECONDITION.withDescription("no stub staged on host " + config.hostId()
                        + " for pid " + who.oldPid() + " of host " + who.sourceHost()).asRuntimeException();
            }
            PrepareOutcome outcome = staged.handle().prepare(batch, request.getBlocking(), deadline);
            if (outcome.prepared()) {
                taken += batch.size();
                synchronized (group) {
                    staged.taken().addAll(batch);
                }
            } else {
                LockRecord wanted = batch.stream().filter(l -> l.getFd() == outcome.lock().getFd()
                        && l.getStart() == outcome.lock().getStart()).findFirst().orElse(batch.get(0));
                reply.addConflicts(LockConflict.newBuilder()
                        .setPath(outcome.path())
                        .setIdentity(FileValidator.identityText(wanted.getIdentity(),
                                "dev " + wanted.getDev() + " inode " + wanted.getInode()))
                        .setStart(outcome.lock().getStart())
                        .setEnd(outcome.lock().getEnd())
                        .setType(outcome.lock().getType())
                        .setHolderPid(outcome.holderPid())
                        .setHostId(config.hostId()));
                LOG.info("group {} op {} host {}: lock {} not taken ({}): {}", op.getGroup(), op.getOpId(),
                        config.hostId(), outcome.lock().getOrder(), outcome.result(), outcome.message());
                return reply.setPrepared(false).setLocksTaken(taken).setPrepareMicros((System.nanoTime() - start) / 1000)
                        .build();
            }
        }
        if (request.getLast()) {
            // A stub with no lock to take (its process only waited, or held nothing) had no round: an empty one
            // prepares it too, so that it also outlives this agent and waits for the decision (OrphanStubs).
            for (RestoreSession.Staged staged : session.stubs().values()) {
                if (!staged.handle().prepared() && !staged.handle().prepare(List.of(), false, deadline).prepared()) {
                    throw Status.INTERNAL.withDescription("restore stub pid " + staged.handle().pid() + " on host "
                            + config.hostId() + " refused an empty prepare round").asRuntimeException();
                }
            }
            createIfAbsent(layout.phaseEntry(op.getGroup(), op.getOpId(), Phase.PREPARED, config.hostId()));
            LOG.info("group {} op {} epoch {} host {}: prepared ({} locks in this round)", op.getGroup(), op.getOpId(),
                    op.getEpoch(), config.hostId(), taken);
        }
        return reply.setPrepared(true).setLocksTaken(taken).setPrepareMicros((System.nanoTime() - start) / 1000).build();
    }

    private void createIfAbsent(String path) throws Exception {
        try {
            zk.create().withMode(CreateMode.EPHEMERAL).forPath(path);
        } catch (KeeperException.NodeExistsException already) {
            // A retried round: the barrier entry stands.
        }
    }

    public ReleaseReply release(ReleaseRequest request) throws Exception {
        OpContext op = request.getCtx();
        admission.admit(op);
        Optional<Decision> decision = new Decisions(zk, layout).read(op.getGroup(), op.getOpId());
        if (request.getCommit() && (decision.isEmpty() || !decision.get().isCommit())) {
            throw Status.FAILED_PRECONDITION.withDescription("host " + config.hostId() + " releases stubs into their "
                    + "programs only after COMMIT; op " + op.getOpId() + " has " + decision.map(Decision::toString)
                    .orElse("no decision")).asRuntimeException();
        }
        if (!request.getCommit() && decision.isPresent() && decision.get().isCommit()) {
            throw Status.FAILED_PRECONDITION.withDescription("op " + op.getOpId() + " is committed: its stubs on host "
                    + config.hostId() + " cannot be aborted").asRuntimeException();
        }
        Optional<ManagedGroup> group = groups.find(op.getGroup());
        if (group.isEmpty()) {
            return ReleaseReply.newBuilder().setHostId(config.hostId()).build();
        }
        List<StagedProcess> released = finish(group.get(), op, request.getCommit(), request.getCommit()
                ? (request.getHeldBack() ? "release of held-back waiters" : "release after COMMIT") : "abort",
                request.getHeldBack());
        ReleaseReply.Builder reply = ReleaseReply.newBuilder().setHostId(config.hostId()).addAllReleased(released);
        RestoreSession session = group.get().restoreOf(op.getOpId());
        if (request.getCommit() && session != null) {
            // Answer once the released programs hold their handed-over locks again: the coordinator
            // releases their waiters (on any host) only then.
            for (CompletableFuture<List<HandOver>> checks : session.handOvers()) {
                reply.addAllHandOvers(checks.get(session.handOverTimeout().plus(config.sessionTimeout()).toMillis(),
                        TimeUnit.MILLISECONDS));
            }
        }
        return reply.build();
    }

    /** Abort RPC: ABORT stands (unless COMMIT does), then the stubs exit. */
    public void abort(AbortRequest request) throws Exception {
        OpContext op = request.getCtx();
        Optional<ManagedGroup> group = groups.find(op.getGroup());
        if (group.isEmpty()) {
            return;
        }
        synchronized (group.get()) {
            RestoreSession session = group.get().restore();
            if (session == null || !session.op().getOpId().equals(op.getOpId())) {
                return;
            }
        }
        Decision standing = new Decisions(zk, layout).decide(op.getGroup(), op.getOpId(),
                Decision.abort(request.getReason().isEmpty() ? "aborted by coordinator" : request.getReason()));
        finish(group.get(), op, standing.isCommit(), "abort requested; decision " + standing, false);
    }

    private ManagedGroup requireSession(OpContext op) {
        ManagedGroup group = groups.find(op.getGroup()).orElseThrow(() -> Status.FAILED_PRECONDITION
                .withDescription("group " + op.getGroup() + " has nothing staged on host " + config.hostId()).asRuntimeException());
        synchronized (group) {
            RestoreSession session = group.restore();
            if (session == null || !session.op().getOpId().equals(op.getOpId())) {
                throw Status.FAILED_PRECONDITION.withDescription("op " + op.getOpId() + " has no stubs on host "
                        + config.hostId() + " (aborted by its watchdog, or never staged)").asRuntimeException();
            }
        }
        return group;
    }

    private void finishQuietly(ManagedGroup group, OpContext op, boolean commit, String reason, boolean heldBackToo) {
        try {
            finish(group, op, commit, reason, heldBackToo);
        } catch (Exception e) {
            LOG.error("group {} op {} host {}: finishing the restore failed: {}", op.getGroup(), op.getOpId(),
                    config.hostId(), e.toString());
        }
    }

    /**
     * Commit: execs the stubs into their restart commands and records the new processes; the
     * waiters for a handed-over lock only when {@code heldBackToo} (a second release, or the
     * fallback after the hand-over timeout). Otherwise every stub exits and the kernel drops its
     * locks. The session ends with its last stub.
     */
    private List<StagedProcess> finish(ManagedGroup group, OpContext op, boolean commit, String reason,
                                       boolean heldBackToo) throws IOException {
        RestoreSession session;
        Map<RestoreSession.Recorded, RestoreSession.Staged> selected = new LinkedHashMap<>();
        boolean ended;
        boolean releasedBefore = false;
        CompletableFuture<List<StagedProcess>> round = new CompletableFuture<>();
        synchronized (group) {
            session = group.restore();
            if (session == null || !session.op().getOpId().equals(op.getOpId())) {
                session = null;
                ended = false;
            } else {
                session.ending(reason);
                for (Map.Entry<RestoreSession.Recorded, RestoreSession.Staged> e : session.stubs().entrySet()) {
                    // A held-back stub that died has nothing left to hold back: it goes with the
                    // others, so that a session of dead stubs ends now, not at the hand-over fallback
                    // (meanwhile every new restore of the group on this host was refused).
                    if (!commit || heldBackToo || !session.heldBack().contains(e.getKey())
                            || !e.getValue().handle().running()) {
                        selected.put(e.getKey(), e.getValue());
                    }
                }
                session.stubs().keySet().removeAll(selected.keySet());
                ended = session.stubs().isEmpty();
                if (ended) {
                    group.restore(null);
                }
                LastRelease earlier = lastRelease.get(group.name());
                boolean earlierOfThisKind = earlier != null && earlier.opId().equals(op.getOpId())
                        && earlier.rounds().stream().anyMatch(r -> r.heldBackToo() == heldBackToo);
                if (commit && selected.isEmpty() && earlierOfThisKind) {
                    // An earlier release of the same kind (the watchdog's on the COMMIT, or the
                    // fallback for held-back waiters) took them all; only held-back waiters are left.
                    // Without one (a host whose only stubs are held-back waiters), this is the first
                    // round: it releases nothing and arms the hand-over fallback below.
                    releasedBefore = true;
                } else if (commit) {
                    LastRelease.Round mine = new LastRelease.Round(heldBackToo, round);
                    lastRelease.compute(group.name(), (name, last) -> last != null && last.opId().equals(op.getOpId())
                            ? last.with(mine) : new LastRelease(op.getOpId(), List.of(mine)));
                }
            }
        }
        if (session == null || releasedBefore) {
            return releasedBefore(group.name(), op, commit, heldBackToo);
        }
        try {
            List<StagedProcess> released = release(group, op, commit, reason, session, selected, ended);
            round.complete(released);
            return released;
        } catch (IOException | RuntimeException e) {
            round.completeExceptionally(e);
            throw e;
        }
    }

    /** The part of {@link #finish} after the stubs were selected: releases or ends them. */
    private List<StagedProcess> release(ManagedGroup group, OpContext op, boolean commit, String reason,
                                        RestoreSession session,
                                        Map<RestoreSession.Recorded, RestoreSession.Staged> selected, boolean ended)
            throws IOException {
        if (ended) {
            session.watch().close();
        } else if (commit) {
            // Should the coordinator never send the second release, the waiters go after the hand-over timeout,
            // once every host's release round is over: a holder's host may come back later than that.
            Instant giveUpAt = Instant.now().plus(OrphanStubs.ORPHAN_WAIT).plus(config.sessionTimeout());
            timer.schedule(() -> marks.releaseWhenAllMarked(op, giveUpAt, () -> finishQuietly(group, op, true,
                    "hand-over timeout passed and every host's release round is over: held-back waiters released", true)),
                    session.handOverTimeout().plus(config.sessionTimeout()).toMillis(), TimeUnit.MILLISECONDS);
        }
        if (commit) {
            // Until its marker is made: a restarted agent finishes the round should this one die.
            marks.roundStarted(op, session.handOverTimeout());
        }
        Instant abortDeadline = Instant.now().plus(config.sessionTimeout());
        List<StagedProcess> released = new ArrayList<>();
        List<HandOverCheck.Pending> handOvers = new ArrayList<>();
        IOException firstFailure = null;
        for (Map.Entry<RestoreSession.Recorded, RestoreSession.Staged> entry : selected.entrySet()) {
            StubHandle handle = entry.getValue().handle();
            try {
                if (commit) {
                    // Recorded before the exec: an agent that dies right after it must still know how
                    // to restart the process on its next checkpoint (the stub's pid is the process's).
                    group.specs().put(handle.pid(), restartSpec(entry.getValue().process(), handle));
                }
                // A commit gives each stub its own deadline: an agent stopped inside this loop must not run
                // every later stub out of time (StubHandle also never ends a stub it told to commit).
                handle.release(commit, commit ? Instant.now().plus(config.sessionTimeout()) : abortDeadline);
                if (commit) {
                    int pid = handle.pid();
                    released.add(StagedProcess.newBuilder().setOldPid(entry.getKey().oldPid()).setNewPid(pid)
                            .setSourceHostId(entry.getKey().sourceHost()).build());
                    handOvers.addAll(handOvers(entry.getKey(), entry.getValue().process(), handle));
                }
            } catch (IOException e) {
                if (firstFailure == null) {
                    firstFailure = e;
                }
            } finally {
                handle.close();
                OrphanStubs.forget(config.stateDir(), op, handle.pid());
            }
        }
        if (!handOvers.isEmpty()) {
            java.time.Duration timeout = session.handOverTimeout();
            marks.roundReleased(op, Instant.now().plus(timeout), handOvers);
            session.addHandOvers(CompletableFuture.supplyAsync(() -> {
                List<HandOver> outcome = HandOverCheck.await(handOvers, timeout);
                marks.mark(op);
                outcome.stream().filter(h -> !h.getTakenAgain()).forEach(h -> LOG.warn("group {} op {} host {}: "
                        + "hand-over timeout: {} {} lock on {} [{}..{}] (pid {} of host {}) not taken again by its "
                        + "restarted program pid {} within {} ms; its waiters are released anyway", op.getGroup(),
                        op.getOpId(), config.hostId(), h.getLock().getKind(), h.getLock().getType(), h.getPath(),
                        h.getLock().getStart(), h.getLock().getEnd() < 0 ? "EOF" : h.getLock().getEnd(),
                        h.getOldPid(), h.getSourceHostId(), h.getNewPid(), timeout.toMillis()));
                return outcome;
            }));
        }
        if (commit && handOvers.isEmpty()) {
            marks.mark(op);
        }
        if (commit && !released.isEmpty()) {
            registration.join(group.name());
        }
        if (ended) {
            try {
                zk.delete().forPath(layout.phaseEntry(op.getGroup(), op.getOpId(), Phase.PREPARED, config.hostId()));
            } catch (KeeperException.NoNodeException gone) {
                // Never prepared, or gone with an expired session.
            } catch (Exception e) {
                LOG.warn("op {} host {}: cannot remove prepared node: {}", op.getOpId(), config.hostId(), e.toString());
            }
        }
        LOG.info("group {} op {} epoch {} host {}: {} {} stubs ({}){}", op.getGroup(), op.getOpId(), op.getEpoch(),
                config.hostId(), commit ? "released" : "ended", selected.size(), reason,
                ended ? "" : "; " + session.stubCount() + " waiters held back until their locks are handed over");
        if (firstFailure != null) {
            throw firstFailure;
        }
        return released;
    }

    /**
     * What the releases of this op of the same kind did so far (the watchdog releases on the COMMIT
     * by itself, often before the coordinator's Release arrives; held-back waiters go in a round of
     * their own, the coordinator's second or the agent's fallback): their processes, once they are
     * done, or their failure, so that the coordinator's count of released processes (the sum of
     * its two rounds) is right whoever released them.
     */
    private List<StagedProcess> releasedBefore(String group, OpContext op, boolean commit, boolean heldBackRound)
            throws IOException {
        LastRelease last = lastRelease.get(group);
        if (!commit || last == null || !last.opId().equals(op.getOpId())) {
            return List.of();
        }
        List<StagedProcess> released = new ArrayList<>();
        long waitMillis = releaseWaitMillis();
        for (LastRelease.Round round : last.rounds()) {
            if (round.heldBackToo() != heldBackRound) {
                continue;
            }
            try {
                released.addAll(round.released().get(waitMillis, TimeUnit.MILLISECONDS));
            } catch (java.util.concurrent.ExecutionException e) {
                throw new IOException(e.getCause().getMessage(), e.getCause());
            } catch (java.util.concurrent.TimeoutException e) {
                throw new IOException("the release of op " + op.getOpId() + " under way on host " + config.hostId()
                        + " did not finish within " + waitMillis + " ms");
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                throw new IOException("interrupted while waiting for the release of op " + op.getOpId(), e);
            }
        }
        return released;
    }

    /**
     * How long a Release RPC waits for a release under way: until shortly before the caller's
     * deadline, at least twice the session timeout. Releasing many stubs, or one on a loaded host,
     * can take longer than a fixed bound, and a Release answered with a failure while the release
     * still goes on made the coordinator release the held-back waiters before the holders'
     * programs held their handed-over locks again.
     */
    private long releaseWaitMillis() {
        long atLeast = config.sessionTimeout().toMillis() * 2;
        io.grpc.Deadline deadline = io.grpc.Context.current().getDeadline();
        return deadline == null ? atLeast
                : Math.max(atLeast, deadline.timeRemaining(TimeUnit.MILLISECONDS) - RELEASE_REPLY_MARGIN_MILLIS);
    }

    /** The release rounds of the newest restore of a group on this host. */
    private record LastRelease(String opId, List<Round> rounds) {
        /** One release of the op's stubs: of held-back waiters too (a second or fallback round) or not. */
        record Round(boolean heldBackToo, CompletableFuture<List<StagedProcess>> released) {
        }

        LastRelease with(Round round) {
            List<Round> all = new ArrayList<>(rounds);
            all.add(round);
            return new LastRelease(opId, List.copyOf(all));
        }
    }

    /** The released program's flock/OFD locks to see taken again, each on its file on this host. */
    private static List<HandOverCheck.Pending> handOvers(RestoreSession.Recorded who, ProcessRecord process,
                                                         StubHandle handle) {
        List<HandOverCheck.Pending> pending = new ArrayList<>();
        for (LockRecord lock : LockHandOver.handedOver(process)) {
            handle.plan().getFdsList().stream().filter(f -> f.getFd() == lock.getFd()).findFirst().ifPresent(fd ->
                    pending.add(new HandOverCheck.Pending(HandOver.newBuilder().setSourceHostId(who.sourceHost())
                            .setOldPid(who.oldPid()).setNewPid(handle.pid()).setLock(lock)
                            .setPath(RawNames.display(fd.getPath())),
                            fd.getDev(), fd.getInode())));
        }
        return pending;
    }

    /** Agent shutdown: ABORT every restore in progress (unless committed) and end its stubs. */
    public void abortAll(String reason) {
        for (ManagedGroup group : groups.all().values()) {
            RestoreSession session;
            synchronized (group) {
                session = group.restore();
            }
            if (session == null) {
                continue;
            }
            OpContext op = session.op();
            boolean commit = false;
            try {
                commit = new Decisions(zk, layout).decide(op.getGroup(), op.getOpId(),
                        Decision.abort(reason + " on host " + config.hostId())).isCommit();
            } catch (Exception e) {
                LOG.warn("op {}: cannot record ABORT at shutdown ({}); stubs end with the agent", op.getOpId(), e.toString());
            }
            finishQuietly(group, op, commit, reason, true);
        }
    }
}
