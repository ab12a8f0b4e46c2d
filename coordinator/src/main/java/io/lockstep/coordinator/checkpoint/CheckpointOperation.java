package io.lockstep.coordinator.checkpoint;

import io.lockstep.coordinator.agents.AgentClient;
import io.lockstep.coordinator.catalog.Catalog;
import io.lockstep.coordinator.catalog.KnownGroups;
import io.lockstep.coordinator.op.AgentFanout;
import io.lockstep.coordinator.op.CommitMulti;
import io.lockstep.coordinator.op.CoordinatorContext;
import io.lockstep.coordinator.op.FailureReason;
import io.lockstep.coordinator.op.OpenedOperation;
import io.lockstep.coordinator.op.OperationFailedException;
import io.lockstep.coordinator.op.OperationListener;
import io.lockstep.coordinator.op.OperationSession;
import io.lockstep.coordinator.op.PhaseLog;
import io.lockstep.coordinator.op.ParallelCalls;
import io.lockstep.coordinator.op.PhaseBarrier;
import io.lockstep.coordinator.store.CheckpointStore;
import io.lockstep.coordinator.store.CheckpointStore.StoredManifest;
import io.lockstep.proto.AbortRequest;
import io.lockstep.proto.CaptureRequest;
import io.lockstep.proto.CatalogEntry;
import io.lockstep.proto.CatalogManifest;
import io.lockstep.proto.FreezeReply;
import io.lockstep.proto.FreezeRequest;
import io.lockstep.proto.OpKind;
import io.lockstep.proto.OpRecord;
import io.lockstep.proto.ThawReply;
import io.lockstep.proto.ThawRequest;
import io.lockstep.zk.Decision;
import io.lockstep.zk.Decisions;
import io.lockstep.zk.Phase;
import io.lockstep.zk.ZkJson;
import io.lockstep.zk.ZkLayout;
import org.apache.curator.framework.CuratorFramework;
import org.apache.curator.framework.api.transaction.CuratorOp;
import org.apache.zookeeper.CreateMode;
import org.apache.zookeeper.KeeperException;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.TimeUnit;

/**
 * One coordinated checkpoint of a group (docs/DESIGN.md, "Checkpoint"): open, freeze barrier, capture,
 * decide, thaw. Any failure before the decision ends in ABORT, with the group thawed and the
 * partial manifests removed.
 */
public final class CheckpointOperation {
    private static final Logger LOG = LoggerFactory.getLogger(CheckpointOperation.class);
    /** How long past the freeze deadline a freeze call waits for the agent's report of unfrozen tasks. */
    static final Duration FREEZE_REPORT_MARGIN = Duration.ofSeconds(3);

    private final CoordinatorContext ctx;
    private final CheckpointOptions options;
    /** The kind label of this operation in listeners, logs and metrics. */
    public static final String KIND = "checkpoint";

    private final OperationListener listener;

    public CheckpointOperation(CoordinatorContext ctx, CheckpointOptions options, OperationListener listener) {
        this.ctx = ctx;
        this.options = options;
        this.listener = listener;
    }

    public CheckpointResult run(String group) throws Exception {
        ZkLayout.checkName("group", group);
        // Per run: the phase log remembers this run's op id and epoch.
        OperationListener listener = new PhaseLog().and(this.listener);
        try {
            CheckpointResult result = run(group, listener);
            listener.checkpointCommitted(result);
            return result;
        } catch (Exception failure) {
            listener.failed(KIND, group, failure);
            throw failure;
        }
    }

    private CheckpointResult run(String group, OperationListener listener) throws Exception {
        new KnownGroups(ctx).require(group);
        try (OperationSession session = OperationSession.begin(ctx, group)) {
            List<String> participants = ctx.directory().members(group);
            if (participants.isEmpty()) {
                throw new OperationFailedException(FailureReason.NO_PARTICIPANTS, null,
                        "group " + group + " has no processes on any live agent (no members under "
                                + ctx.layout().members(group) + "); " + restoreFrom(group));
            }
            Map<String, AgentClient> agents = session.agents(participants);
            Instant deadline = ctx.clock().instant().plus(options.timeout());
            OpenedOperation op = session.open(OpRecord.newBuilder()
                    .setKind(OpKind.CHECKPOINT)
                    .addAllParticipants(participants)
                    .setDeadlineUnixMs(deadline.toEpochMilli()));
            listener.opened(KIND, group, op.opId(), op.epoch());
            try (AgentFanout fanout = new AgentFanout(agents, listener)) {
                return new Run(session, op, fanout, deadline).execute();
            }
        }
    }

    /** One execution: what has happened so far decides what the abort path must undo. */
    private final class Run {
        private final OperationSession session;
        private final OpenedOperation op;
        private final AgentFanout fanout;
        private final Instant deadline;
        private final List<String> hosts;

        Run(OperationSession session, OpenedOperation op, AgentFanout fanout, Instant deadline) {
            this.session = session;
            this.op = op;
            this.fanout = fanout;
            this.deadline = deadline;
            this.hosts = fanout.hosts();
        }

        CheckpointResult execute() throws Exception {
            try {
                Map<String, FreezeReply> frozen = freeze();
                CaptureTotals totals = capture();
                if (totals.processes == 0) {
                    throw processesGone();
                }
                CatalogEntry entry = commit(totals);
                Map<String, ThawReply> thawed = thaw();
                long window = frozenWindowMicros(frozen, thawed);
                CatalogEntry finalEntry = entry.toBuilder().setFrozenWindowMs(TimeUnit.MICROSECONDS.toMillis(window)).build();
                recordFrozenWindow(finalEntry);
                LOG.info("group {} op {} epoch {}: COMMIT checkpoint {} ({} hosts, {} processes, {} locks, {} files, frozen {} ms)",
                        op.group(), op.opId(), op.epoch(), entry.getCheckpointId(), hosts.size(), totals.processes,
                        totals.locks, totals.files, String.format(Locale.ROOT, "%.3f", window / 1000.0));
                return new CheckpointResult(entry.getCheckpointId(), op.group(), op.epoch(), hosts, totals.processes,
                        totals.locks, totals.files, window, fanout.phaseMicros(), finalEntry);
            } catch (OperationFailedException failure) {
                throw abort(failure);
            } catch (Exception unexpected) {
                throw abort(new OperationFailedException(FailureReason.ZK_UNAVAILABLE, null,
                        "checkpoint of group " + op.group() + " failed: " + unexpected, unexpected));
            }
        }

        private Map<String, FreezeReply> freeze() throws Exception {
            long start = System.nanoTime();
            Instant freezeDeadline = earlier(ctx.clock().instant().plus(options.freezeTimeout()), deadline);
            FreezeRequest request = FreezeRequest.newBuilder()
                    .setCtx(op.context())
                    .setDeadlineUnixMs(freezeDeadline.toEpochMilli())
                    .setMaxFrozenMs(options.maxFrozen().toMillis())
                    .build();
            // Step 1 arms every host's freeze guard (a process start each), so that no host's
            // set-up lands inside another host's frozen window; step 2 freezes.
            FreezeRequest arm = request.toBuilder().setArmOnly(true).build();
            fanout.all("arm", FailureReason.FREEZE_FAILED, (host, agent) -> agent.freeze(arm, until(freezeDeadline)),
                    reply -> "freeze guard armed");
            fanout.phaseEnded("arm", start);
            long frozenStart = System.nanoTime();
            // The call outlives the freeze deadline a little: an agent that misses it thaws and
            // answers with the tasks it could not freeze, and that answer is the operator's report.
            Map<String, FreezeReply> replies = fanout.all("freeze", FailureReason.FREEZE_FAILED,
                    (host, agent) -> agent.freeze(request, until(freezeDeadline).plus(FREEZE_REPORT_MARGIN)),
                    reply -> reply.getTasks() + " tasks frozen in " + String.format(Locale.ROOT, "%.3f ms",
                            reply.getFreezeMicros() / 1000.0) + " ("
                            + reply.getFreezer() + (reply.getDegraded() ? ", degraded" : "") + ")");
            awaitBarrier(Phase.FROZEN, freezeDeadline);
            fanout.phaseEnded("freeze", frozenStart);
            return replies;
        }

        private CaptureTotals capture() throws Exception {
            long start = System.nanoTime();
            CaptureRequest request = CaptureRequest.newBuilder().setCtx(op.context()).build();
            CaptureTotals totals = new CaptureTotals();
            fanout.all("capture", FailureReason.CAPTURE_FAILED, (host, agent) -> {
                AgentClient.CapturedManifest manifest = agent.capture(request, until(deadline));
                String actual = CheckpointStore.sha256Hex(manifest.framed());
                if (!actual.equals(manifest.sha256Hex())) {
                    throw new OperationFailedException(FailureReason.CAPTURE_FAILED, host, "manifest from host " + host
                            + " arrived damaged: sha256 " + actual + ", the agent sent " + manifest.sha256Hex());
                }
                StoredManifest file;
                try {
                    file = ctx.store().write(op.group(), op.opId(), host, ctx.sealForStore(manifest.framed()));
                } catch (IOException e) {
                    throw new OperationFailedException(FailureReason.STORE_FAILED, host, e.getMessage(), e);
                }
                totals.add(host, manifest, file);
                return file;
            }, file -> file.size() + " bytes stored");
            awaitBarrier(Phase.CAPTURED, deadline);
            fanout.phaseEnded("capture", start);
            return totals;
        }

        /**
         * Members without a live process (every process of the group died): a commit would make
         * a checkpoint of nothing the latest one, and retention would then delete real ones.
         */
        private OperationFailedException processesGone() throws Exception {
            String group = op.group();
            return new OperationFailedException(FailureReason.PROCESSES_GONE, null, "group " + group
                    + " has no live process on " + String.join(", ", hosts) + ": its processes are gone, and a "
                    + "checkpoint of nothing is not committed; " + restoreFrom(group));
        }

        private void awaitBarrier(Phase phase, Instant until) throws Exception {
            Set<String> missing = new PhaseBarrier(ctx.zk(), ctx.layout(), ctx.clock())
                    .await(op.group(), op.opId(), phase, hosts, until);
            if (!missing.isEmpty()) {
                throw new OperationFailedException(FailureReason.BARRIER_TIMEOUT, missing.iterator().next(),
                        phase.node() + " barrier not full by its deadline: missing " + missing);
            }
        }

        /** Step "Decide": one multi that checks every frozen node, creates COMMIT, the catalog entry and latest. */
        private CatalogEntry commit(CaptureTotals totals) throws Exception {
            long start = System.nanoTime();
            CuratorFramework zk = ctx.zk();
            ZkLayout layout = ctx.layout();
            String group = op.group();
            String id = op.opId();
            CatalogEntry.Builder entry = CatalogEntry.newBuilder()
                    .setCheckpointId(id)
                    .setGroup(group)
                    .setOpId(op.opId())
                    .setEpoch(op.epoch())
                    .setCreatedUnixMs(ctx.clock().millis())
                    .setProcesses(totals.processes)
                    .setLocks(totals.locks)
                    .setFiles(totals.files);
            for (String host : hosts) {
                StoredManifest file = totals.manifests.get(host);
                entry.addManifests(CatalogManifest.newBuilder().setHostId(host).setUri(file.uri())
                        .setSha256(file.sha256()).setSize(file.size()));
            }
            CatalogEntry catalogEntry = entry.build();
            List<CuratorOp> ops = new ArrayList<>();
            // The owner node lives as long as this coordinator's session, and with it the group lock.
            ops.add(zk.transactionOp().check().forPath(layout.owner(group, op.opId())));
            for (String host : hosts) {
                ops.add(zk.transactionOp().check().forPath(layout.phaseEntry(group, op.opId(), Phase.FROZEN, host)));
            }
            ops.add(zk.transactionOp().create().withMode(CreateMode.PERSISTENT)
                    .forPath(layout.decision(group, op.opId()), Decision.commit().toBytes()));
            zk.createContainers(layout.checkpoints(group));
            ops.add(zk.transactionOp().create().withMode(CreateMode.PERSISTENT)
                    .forPath(layout.checkpoint(group, id), ZkJson.toBytes(catalogEntry)));
            byte[] latest = id.getBytes(StandardCharsets.UTF_8);
            if (zk.checkExists().forPath(layout.latest(group)) == null) {
                ops.add(zk.transactionOp().create().withMode(CreateMode.PERSISTENT).forPath(layout.latest(group), latest));
            } else {
                ops.add(zk.transactionOp().setData().forPath(layout.latest(group), latest));
            }
            try {
                CommitMulti.run(zk, new Decisions(zk, layout), op, ops);
            } catch (KeeperException e) {
                throw commitRefused(e);
            }
            fanout.phaseEnded("commit", start);
            return catalogEntry;
        }

        /**
         * The frozen window is only known after the thaw, so the catalog entry gets it afterwards.
         * Committed already: a failure here must not reach the abort path, it only costs the number.
         */
        private void recordFrozenWindow(CatalogEntry entry) {
            try {
                ctx.zk().setData().forPath(ctx.layout().checkpoint(op.group(), entry.getCheckpointId()), ZkJson.toBytes(entry));
            } catch (Exception e) {
                LOG.warn("op {}: could not record the frozen window in the catalog: {}", op.opId(), e.toString());
            }
        }

        private OperationFailedException commitRefused(KeeperException e) throws Exception {
            if (ctx.zk().checkExists().forPath(ctx.layout().owner(op.group(), op.opId())) == null) {
                return new OperationFailedException(FailureReason.COMMIT_FAILED, null, "commit refused: the owner node of "
                        + op.opId() + " is gone (this coordinator's ZooKeeper session expired, and the group lock with it)", e);
            }
            for (String host : hosts) {
                if (ctx.zk().checkExists().forPath(ctx.layout().phaseEntry(op.group(), op.opId(), Phase.FROZEN, host)) == null) {
                    return new OperationFailedException(FailureReason.COMMIT_FAILED, host, "commit refused: host " + host
                            + " is no longer frozen for this operation (its ZooKeeper session expired or it aborted)", e);
                }
            }
            Decision standing = new Decisions(ctx.zk(), ctx.layout()).read(op.group(), op.opId()).orElse(null);
            if (standing != null && !standing.isCommit()) {
                return new OperationFailedException(FailureReason.ABORTED_ELSEWHERE, null,
                        "commit refused: the operation was already decided " + standing, e);
            }
            return new OperationFailedException(FailureReason.COMMIT_FAILED, null, "commit transaction failed: " + e, e);
        }

        private Map<String, ThawReply> thaw() {
            long start = System.nanoTime();
            ThawRequest request = ThawRequest.newBuilder().setCtx(op.context()).build();
            Map<String, ThawReply> replies = new LinkedHashMap<>();
            fanout.bestEffort("thaw", (host, agent) -> agent.thaw(request, options.rpcTimeout())).forEach((host, outcome) -> {
                if (outcome.ok()) {
                    replies.put(host, outcome.value());
                } else {
                    // Committed already; the agent's watchdog thaws on the decision by itself.
                    LOG.warn("op {}: thaw RPC failed after commit, the agent thaws on the decision: {}", op.opId(),
                            ParallelCalls.describe(outcome.failure()));
                }
            });
            fanout.phaseEnded("thaw", start);
            return replies;
        }

        private OperationFailedException abort(OperationFailedException failure) {
            Decision standing = session.decideAbort(failure);
            if (standing.isCommit()) {
                // Only this coordinator writes COMMIT, so this means a bug; the decision in
                // ZooKeeper is the truth and the report must say so.
                return new OperationFailedException(failure.reason(), failure.hostId().orElse(null),
                        failure.getMessage() + " (but the operation was already committed)", failure);
            }
            AbortRequest request = AbortRequest.newBuilder().setCtx(op.context()).setReason(standing.reason()).build();
            fanout.bestEffort("abort", (host, agent) -> agent.abort(request, options.rpcTimeout())).values().stream()
                    .filter(outcome -> !outcome.ok())
                    .forEach(outcome -> LOG.warn("op {}: abort not delivered, the agent aborts on the decision: {}",
                            op.opId(), ParallelCalls.describe(outcome.failure())));
            try {
                ctx.store().delete(op.group(), op.opId());
            } catch (IOException e) {
                LOG.warn("op {}: could not remove partial manifests: {}", op.opId(), e.toString());
            }
            LOG.info("group {} op {} epoch {}: ABORT {}", op.group(), op.opId(), op.epoch(), standing.reason());
            return failure;
        }

        private Duration until(Instant when) {
            return Duration.ofMillis(Math.max(1, when.toEpochMilli() - ctx.clock().millis()));
        }
    }

    /** Where a group whose processes are gone comes back from: its latest checkpoint, named with the command. */
    private String restoreFrom(String group) throws Exception {
        return new Catalog(ctx).latestId(group)
                .map(id -> "the latest checkpoint is " + id + ": `coordinator restore --group " + group
                        + " --checkpoint " + id + "` brings the group back")
                .orElse("the group has no checkpoint to restore from");
    }

        /** First freeze started → last thaw, over all hosts, from the agents' own clocks. */
    static long frozenWindowMicros(Map<String, FreezeReply> frozen, Map<String, ThawReply> thawed) {
        long first = frozen.values().stream().mapToLong(FreezeReply::getFreezeStartedUnixMicros).min().orElse(0);
        long last = thawed.values().stream().mapToLong(ThawReply::getThawedAtUnixMicros).max().orElse(first);
        return Math.max(0, last - first);
    }

    private static Instant earlier(Instant a, Instant b) {
        return a.isBefore(b) ? a : b;
    }

    private static final class CaptureTotals {
        int processes;
        int locks;
        int files;
        final Map<String, StoredManifest> manifests = new LinkedHashMap<>();

        synchronized void add(String host, AgentClient.CapturedManifest manifest, StoredManifest file) {
            processes += manifest.processes();
            locks += manifest.locks();
            files += manifest.files();
            manifests.put(host, file);
        }
    }
}
