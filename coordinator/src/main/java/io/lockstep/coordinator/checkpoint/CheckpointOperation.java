package io.lockstep.coordinator.checkpoint;

import io.lockstep.coordinator.agents.AgentClient;
import io.lockstep.coordinator.catalog.Catalog;
import io.lockstep.coordinator.catalog.KnownGroups;
import io.lockstep.coordinator.agents.AgentDirectory;
import io.lockstep.coordinator.op.AgentFanout;
import io.lockstep.coordinator.op.CoordinatorContext;
import io.lockstep.coordinator.op.FailureReason;
import io.lockstep.coordinator.op.OpenedOperation;
import io.lockstep.coordinator.op.CheckpointResult;
import io.lockstep.coordinator.op.OperationFrame;
import io.lockstep.coordinator.op.OperationFailedException;
import io.lockstep.coordinator.op.OperationListener;
import io.lockstep.coordinator.op.OperationSession;
import io.lockstep.coordinator.op.ParallelCalls;
import io.lockstep.coordinator.op.PhaseBarrier;
import io.lockstep.zk.PipelinedReads;
import io.lockstep.coordinator.store.CheckpointStore;
import io.lockstep.coordinator.store.CheckpointStore.StoredManifest;
import io.lockstep.proto.AbortRequest;
import io.lockstep.proto.CaptureRequest;
import io.lockstep.proto.CatalogEntry;
import io.lockstep.proto.CatalogManifest;
import io.lockstep.proto.FreezeReply;
import io.lockstep.proto.FreezeRequest;
import io.lockstep.proto.HostRecord;
import io.lockstep.proto.OpKind;
import io.lockstep.proto.OpRecord;
import io.lockstep.zk.Decision;
import io.lockstep.zk.Decisions;
import io.lockstep.zk.Phase;
import io.lockstep.zk.ZkJson;
import io.lockstep.zk.ZkLayout;
import org.apache.curator.framework.CuratorFramework;
import org.apache.curator.framework.api.transaction.CuratorOp;
import org.apache.zookeeper.CreateMode;
import org.apache.zookeeper.KeeperException;
import org.apache.zookeeper.data.Stat;
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
import java.util.Optional;
import java.util.Set;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;

/**
 * One coordinated checkpoint of a group (docs/DESIGN.md, "Checkpoint"): open; one call per host
 * that arms its guard and freezes; all-frozen, on which every host captures into memory by
 * itself; the captured barrier; all-captured, on which every host thaws — the frozen window ends
 * here — then the manifests travel, each stored durably as it arrives, and the commit. Any failure before
 * the decision ends in ABORT, with the group thawed and the partial manifests removed.
 */
public final class CheckpointOperation {
    private static final Logger LOG = LoggerFactory.getLogger(CheckpointOperation.class);
    /** How long past the freeze deadline a freeze call waits for the agent's report of unfrozen tasks. */
    static final Duration FREEZE_REPORT_MARGIN = Duration.ofSeconds(3);
    /**
     * How long before the earliest moment a freeze guard can fire the coordinator stops creating
     * the all-captured node: room for the two clocks' rates and the multi's own round trip.
     */
    static final Duration GUARD_MARGIN = Duration.ofMillis(500);
    /**
     * The capability of an agent whose registration lists every group with a hooked program on its
     * host ({@code HostRecord.hooked_groups}); an agent without it may have hooks anywhere.
     */
    static final String HOOKS_LISTED = "hooks=listed";
    /** How often the captured barrier's wait looks at the agents' connections (their state only, no call). */
    static final Duration CONNECTION_CHECK = Duration.ofMillis(100);

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
        return OperationFrame.observe(KIND, group, listener, this::run, OperationListener::checkpointCommitted);
    }

    private CheckpointResult run(String group, OperationListener listener) throws Exception {
        new KnownGroups(ctx).require(group);
        try (OperationSession session = OperationSession.begin(ctx, group)) {
            Map<String, Optional<HostRecord>> registrations = ctx.directory().membersWithRegistrations(group);
            List<AgentDirectory.Member> members = registrations.entrySet().stream()
                    .map(member -> new AgentDirectory.Member(member.getKey(), member.getValue().isPresent())).toList();
            if (members.isEmpty()) {
                throw new OperationFailedException(FailureReason.NO_PARTICIPANTS, null,
                        "group " + group + " has no processes on any live agent (no members under "
                                + ctx.layout().members(group) + "); " + restoreFrom(group));
            }
            requireEveryMemberLive(group, members);
            List<String> participants = members.stream().map(AgentDirectory.Member::host).toList();
            Map<String, HostRecord> live = new LinkedHashMap<>();
            registrations.forEach((host, record) -> live.put(host, record.orElseThrow()));
            boolean hooks = live.values().stream().anyMatch(record -> !record.getCapabilitiesList().contains(HOOKS_LISTED)
                    || record.getHookedGroupsList().contains(group));
            Map<String, AgentClient> agents = session.agents(live);
            // The connections come up while the op opens (ZooKeeper round trips), not in the freeze call.
            agents.values().forEach(AgentClient::connect);
            Instant deadline = ctx.clock().instant().plus(options.timeout());
            OpenedOperation op = session.open(OpRecord.newBuilder()
                    .setKind(OpKind.CHECKPOINT)
                    .addAllParticipants(participants)
                    .setDeadlineUnixMs(deadline.toEpochMilli())
                    .setTimeoutMs(options.timeout().toMillis()));
            listener.opened(KIND, group, op.opId(), op.epoch());
            try (AgentFanout fanout = new AgentFanout(agents, listener)) {
                return new Run(session, op, fanout, deadline, hooks).execute();
            }
        }
    }

    /**
     * A checkpoint is a cut of every host with processes of the group: a member whose agent is not
     * live would be missing from it, and a restore of it would bring back some processes without
     * the others (a lock's holder without its waiter, or the reverse).
     */
    private void requireEveryMemberLive(String group, List<AgentDirectory.Member> members) throws OperationFailedException {
        List<String> notLive = members.stream().filter(member -> !member.live()).map(AgentDirectory.Member::host).toList();
        if (!notLive.isEmpty()) {
            throw new OperationFailedException(FailureReason.AGENT_UNAVAILABLE, notLive.get(0), "group " + group
                    + ": host" + (notLive.size() > 1 ? "s " : " ") + String.join(", ", notLive) + " still "
                    + (notLive.size() > 1 ? "have" : "has") + " processes of the group, but no live agent (no "
                    + ctx.layout().host(notLive.get(0)) + "); a checkpoint without "
                    + (notLive.size() > 1 ? "them" : "it") + " would be incomplete. Start the agent there, or, if "
                    + "the group's processes there are gone, drop the host with `coordinator drop-member --group "
                    + group + " " + notLive.get(0) + "`");
        }
    }

    /** One execution: what has happened so far decides what the abort path must undo. */
    private final class Run extends OperationFrame<CheckpointResult> {
        private final List<String> hosts;
        /** System.nanoTime() before the arm requests left: no freeze guard fires before this plus maxFrozen. */
        private long armSentNanos;
        /** Whether a participant may have a hooked program of the group: else there is no hooks round. */
        private final boolean hooks;

        Run(OperationSession session, OpenedOperation op, AgentFanout fanout, Instant deadline, boolean hooks) {
            super(KIND, CheckpointOperation.this.ctx, session, op, fanout, deadline);
            this.hosts = fanout.hosts();
            this.hooks = hooks;
        }

        @Override
        protected CheckpointResult phases() throws Exception {
            if (hooks) {
                new PreFreezeHooks(fanout, op).run(until(deadline));
            }
            Map<String, FreezeReply> frozen = freeze();
            awaitCaptured();
            // The frozen window ends here: what follows runs while the application runs.
            CommitReads commitReads = new CommitReads();
            CaptureTotals totals = thawFetchAndStore();
            long window = frozenWindowMicros(frozen, totals.captured);
            if (totals.processes == 0) {
                throw processesGone();
            }
            CatalogEntry entry = commit(totals, window, commitReads);
            LOG.info("group {} op {} epoch {}: COMMIT checkpoint {} ({} hosts, {} processes, {} locks, {} files, frozen {} ms)",
                    op.group(), op.opId(), op.epoch(), entry.getCheckpointId(), hosts.size(), totals.processes,
                    totals.locks, totals.files, String.format(Locale.ROOT, "%.3f", window / 1000.0));
            return new CheckpointResult(entry.getCheckpointId(), op.group(), op.epoch(), hosts, totals.processes,
                    totals.locks, totals.files, window, fanout.phaseMicros(), entry);
        }

        /**
         * One call per host arms its freeze guard (one line to the agent's long-lived guard) and
         * freezes; each host answers once it is frozen and its frozen entry exists. Then the
         * all-frozen node, in a multi that checks the owner and every frozen entry: the signal
         * on which every host captures, with no further call.
         */
        private Map<String, FreezeReply> freeze() throws Exception {
            long start = System.nanoTime();
            armSentNanos = start;
            Instant freezeDeadline = earlier(ctx.clock().instant().plus(options.freezeTimeout()), deadline);
            // Deadlines travel as durations: each agent counts them on its own clock.
            FreezeRequest request = FreezeRequest.newBuilder()
                    .setCtx(op.context())
                    .setTimeoutMs(until(freezeDeadline).toMillis())
                    .setMaxFrozenMs(options.maxFrozen().toMillis())
                    .build();
            // The call outlives the freeze deadline a little: an agent that misses it thaws and
            // answers with the tasks it could not freeze, and that answer is the operator's report.
            Map<String, FreezeReply> replies = fanout.all("freeze", FailureReason.FREEZE_FAILED,
                    (host, agent) -> agent.freeze(request, until(freezeDeadline).plus(FREEZE_REPORT_MARGIN)),
                    reply -> reply.getTasks() + " tasks frozen in " + String.format(Locale.ROOT, "%.3f ms",
                            reply.getFreezeMicros() / 1000.0) + " ("
                            + reply.getFreezer() + (reply.getDegraded() ? ", degraded" : "") + ")");
            // Every host answered once its entry multi was applied, so all-frozen — the count child
            // of the last entry — exists, and every host is capturing.
            fanout.phaseEnded("freeze", start);
            return replies;
        }

        /**
         * Every host captures into memory on all-frozen and enters the captured barrier; nothing
         * travels yet. No call is open meanwhile, so a host whose agent died would only be missed
         * at the deadline: a connection to it that fails ends the wait at once.
         */
        private void awaitCaptured() throws Exception {
            long start = System.nanoTime();
            Set<String> missing = new PhaseBarrier(ctx.zk(), ctx.layout(), ctx.clock()).await(op.group(), op.opId(),
                    Phase.CAPTURED, hosts, deadline, fanout.arrivals("capture", "captured into memory"), () -> {
                        for (String host : hosts) {
                            if (fanout.agent(host).connectionFailed()) {
                                throw new OperationFailedException(FailureReason.AGENT_UNAVAILABLE, host, "the agent of "
                                        + "host " + host + " cannot be reached (its connection failed) while its group "
                                        + "is frozen for " + op.opId() + "; its freeze guard thaws it");
                            }
                        }
                    }, CONNECTION_CHECK);
            if (!missing.isEmpty()) {
                throw new OperationFailedException(FailureReason.BARRIER_TIMEOUT, missing.iterator().next(),
                        Phase.CAPTURED.node() + " barrier not full by its deadline: missing " + missing);
            }
            fanout.phaseEnded("capture", start);
        }

        /**
         * What the commit multi needs to know of the catalog — whether its container and latest
         * exist — read while the manifests travel: under the group lock only this op changes them.
         */
        private final class CommitReads {
            private final CompletableFuture<Optional<Stat>> checkpoints;
            private final CompletableFuture<Optional<Stat>> latest;

            CommitReads() throws Exception {
                checkpoints = PipelinedReads.exists(ctx.zk(), ctx.layout().checkpoints(op.group()));
                latest = PipelinedReads.exists(ctx.zk(), ctx.layout().latest(op.group()));
            }
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

        /**
         * Step "Decide", after the thaw: one multi that checks the owner, the group lock and the
         * epoch, and every host's captured entry (gone when its session expired; a host that thawed
         * on its own wrote ABORT, which this create then meets), creates COMMIT, the catalog entry
         * and latest.
         */
        private CatalogEntry commit(CaptureTotals totals, long windowMicros, CommitReads reads) throws Exception {
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
                    .setFiles(totals.files)
                    .setFrozenWindowMs(TimeUnit.MICROSECONDS.toMillis(windowMicros));
            for (String host : hosts) {
                StoredManifest file = totals.stored.get(host);
                entry.addManifests(CatalogManifest.newBuilder().setHostId(host).setUri(file.uri())
                        .setSha256(file.sha256()).setSize(file.size()));
            }
            CatalogEntry catalogEntry = entry.build();
            List<CuratorOp> ops = new ArrayList<>(entryChecks(Phase.CAPTURED));
            ops.add(zk.transactionOp().create().withMode(CreateMode.PERSISTENT)
                    .forPath(layout.decision(group, op.opId()), Decision.commit().toBytes()));
            if (PipelinedReads.await(reads.checkpoints).isEmpty()) {
                zk.createContainers(layout.checkpoints(group));
            }
            ops.add(zk.transactionOp().create().withMode(CreateMode.PERSISTENT)
                    .forPath(layout.checkpoint(group, id), ZkJson.toBytes(catalogEntry)));
            byte[] latest = id.getBytes(StandardCharsets.UTF_8);
            if (PipelinedReads.await(reads.latest).isEmpty()) {
                ops.add(zk.transactionOp().create().withMode(CreateMode.PERSISTENT).forPath(layout.latest(group), latest));
            } else {
                ops.add(zk.transactionOp().setData().forPath(layout.latest(group), latest));
            }
            try {
                commitMulti(ops);
            } catch (KeeperException e) {
                throw commitRefused(e, "commit", Phase.CAPTURED);
            }
            fanout.phaseEnded("commit", start);
            return catalogEntry;
        }

        /** The owner node (this coordinator's session, and with it the group lock), and every host's entry of {@code phase}. */
        private List<CuratorOp> entryChecks(Phase phase) throws Exception {
            CuratorFramework zk = ctx.zk();
            List<CuratorOp> ops = new ArrayList<>();
            ops.add(zk.transactionOp().check().forPath(ctx.layout().owner(op.group(), op.opId())));
            for (String host : hosts) {
                ops.add(zk.transactionOp().check().forPath(ctx.layout().phaseEntry(op.group(), op.opId(), phase, host)));
            }
            return ops;
        }

        private OperationFailedException commitRefused(KeeperException e, String step, Phase phase) throws Exception {
            Stat epoch = ctx.zk().checkExists().forPath(ctx.layout().epoch(op.group()));
            if (epoch != null && epoch.getVersion() != op.epoch()) {
                return new OperationFailedException(FailureReason.STALE_EPOCH, null, step + " refused: a later operation "
                        + "opened group " + op.group() + " at epoch " + epoch.getVersion() + " since " + op.opId()
                        + " opened at epoch " + op.epoch(), e);
            }
            if (ctx.zk().checkExists().forPath(ctx.layout().owner(op.group(), op.opId())) == null) {
                return new OperationFailedException(FailureReason.COMMIT_FAILED, null, step + " refused: the owner node of "
                        + op.opId() + " is gone (this coordinator's ZooKeeper session expired, and the group lock with it)", e);
            }
            for (String host : hosts) {
                if (ctx.zk().checkExists().forPath(ctx.layout().phaseEntry(op.group(), op.opId(), phase, host)) == null) {
                    return new OperationFailedException(FailureReason.COMMIT_FAILED, host, step + " refused: host " + host
                            + " no longer has its " + phase.node() + " entry for this operation (its ZooKeeper session "
                            + "expired, or it thawed on its own)", e);
                }
            }
            Decision standing = new Decisions(ctx.zk(), ctx.layout()).read(op.group(), op.opId()).orElse(null);
            if (standing != null && !standing.isCommit()) {
                return new OperationFailedException(FailureReason.ABORTED_ELSEWHERE, null,
                        step + " refused: the operation was already decided " + standing, e);
            }
            return new OperationFailedException(FailureReason.COMMIT_FAILED, null, step + " transaction failed: " + e, e);
        }

        /**
         * The end of the frozen window. The all-captured node is the count child of the last
         * captured entry; the op goes on only if it was created before the earliest moment a freeze
         * guard can fire: so every host captured while no host had thawed (a host that thaws
         * otherwise wrote ABORT or lost its session and its captured entry, and the commit, which
         * checks every captured entry, fails). Every agent thaws on the node's creation; then
         * the manifests travel here, each with its host's moment of thaw (an agent whose watch has
         * not fired yet thaws on this call), and each goes to the store, durably (fsynced,
         * published atomically), as soon as it arrived, while the others still travel. A failure
         * aborts; the application kept running, so nothing of it is lost.
         */
        private CaptureTotals thawFetchAndStore() throws Exception {
            long start = System.nanoTime();
            String allCaptured = ctx.layout().allCaptured(op.group(), op.opId(), hosts.size());
            // The last captured entry's multi created all-captured (every host thaws on it). Seen
            // now, it was created before now: so every capture came before now, and no guard fired
            // before now if now is before the earliest moment one can.
            boolean created = ctx.zk().checkExists().forPath(allCaptured) != null;
            long seen = System.nanoTime();
            long guardsFireNanos = armSentNanos + options.maxFrozen().toNanos() - GUARD_MARGIN.toNanos();
            if (seen - guardsFireNanos >= 0) {
                throw new OperationFailedException(FailureReason.BARRIER_TIMEOUT, null, "every host captured only "
                        + (seen - armSentNanos) / 1_000_000 + " ms after the freeze guards were armed, within "
                        + GUARD_MARGIN.toMillis() + " ms of their maximum frozen time of " + options.maxFrozen().toMillis()
                        + " ms: a guard may have thawed a host before the others captured");
            }
            if (!created) {
                // Every captured entry was seen, and each came in a multi with its count child.
                throw new OperationFailedException(FailureReason.INTERNAL, null, "every host's captured entry exists but "
                        + allCaptured + ", the count child of the last of them, does not");
            }
            CaptureRequest request = CaptureRequest.newBuilder().setCtx(op.context()).build();
            CaptureTotals totals = new CaptureTotals();
            try {
                fetch(request, totals);
            } catch (OperationFailedException e) {
                // A host that aborted meanwhile (its guard fired, its watchdog) has dropped its manifest:
                // the decision it wrote is the cause, not the fetch.
                Decision standing = new Decisions(ctx.zk(), ctx.layout()).read(op.group(), op.opId()).orElse(null);
                if (standing != null && !standing.isCommit()) {
                    throw new OperationFailedException(FailureReason.ABORTED_ELSEWHERE, e.hostId().orElse(null), "manifests not "
                            + "fetched: the operation was already decided " + standing + " (" + e.getMessage() + ")", e);
                }
                throw e;
            }
            // thaw: until the last manifest arrived; store: what the store writes added after it
            long lastFetched = totals.lastFetchedNanos();
            fanout.phaseEnded("thaw", start, lastFetched);
            fanout.phaseEnded("store", lastFetched);
            return totals;
        }

        /**
         * Every host's manifest, checked against the sha256 its agent sent, into {@code totals},
         * and written to the store.
         */
        private void fetch(CaptureRequest request, CaptureTotals totals) throws Exception {
            fanout.all("thaw", FailureReason.CAPTURE_FAILED, (host, agent) -> {
                AgentClient.CapturedManifest manifest = agent.capture(request, until(deadline));
                String actual = CheckpointStore.sha256Hex(manifest.framed());
                if (!actual.equals(manifest.sha256Hex())) {
                    throw new OperationFailedException(FailureReason.CAPTURE_FAILED, host, "manifest from host " + host
                            + " arrived damaged: sha256 " + actual + ", the agent sent " + manifest.sha256Hex());
                }
                totals.add(host, manifest);
                StoredManifest file;
                try {
                    file = ctx.store().write(op.group(), op.opId(), host, ctx.sealForStore(manifest.framed()));
                } catch (IOException e) {
                    throw new OperationFailedException(FailureReason.STORE_FAILED, host, e.getMessage(), e);
                }
                totals.stored(host, file);
                return file;
            }, file -> "thawed, " + file.size() + " bytes of manifest stored");
        }

        @Override
        protected void tellAgentsAborted(Decision standing) {
            AbortRequest request = AbortRequest.newBuilder().setCtx(op.context()).setReason(standing.reason()).build();
            fanout.bestEffort("abort", (host, agent) -> agent.abort(request, options.rpcTimeout())).values().stream()
                    .filter(outcome -> !outcome.ok())
                    .forEach(outcome -> LOG.warn("op {}: abort not delivered, the agent aborts on the decision: {}",
                            op.opId(), ParallelCalls.describe(outcome.failure())));
        }

        @Override
        protected void discardAborted() {
            try {
                ctx.store().delete(op.group(), op.opId());
            } catch (IOException e) {
                LOG.warn("op {}: could not remove partial manifests: {}", op.opId(), e.toString());
            }
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
    static long frozenWindowMicros(Map<String, FreezeReply> frozen, Map<String, AgentClient.CapturedManifest> thawed) {
        long first = frozen.values().stream().mapToLong(FreezeReply::getFreezeStartedUnixMicros).min().orElse(0);
        long last = thawed.values().stream().mapToLong(AgentClient.CapturedManifest::thawedAtUnixMicros).max().orElse(first);
        return Math.max(0, last - first);
    }

    private static Instant earlier(Instant a, Instant b) {
        return a.isBefore(b) ? a : b;
    }

    private static final class CaptureTotals {
        int processes;
        int locks;
        int files;
        final Map<String, AgentClient.CapturedManifest> captured = new LinkedHashMap<>();
        final Map<String, StoredManifest> stored = new LinkedHashMap<>();

        /** System.nanoTime() when the last manifest arrived. */
        long lastFetched;

        synchronized void add(String host, AgentClient.CapturedManifest manifest) {
            lastFetched = System.nanoTime();
            processes += manifest.processes();
            locks += manifest.locks();
            files += manifest.files();
            captured.put(host, manifest);
        }

        synchronized long lastFetchedNanos() {
            return lastFetched;
        }

        synchronized void stored(String host, StoredManifest file) {
            stored.put(host, file);
        }
    }
}
