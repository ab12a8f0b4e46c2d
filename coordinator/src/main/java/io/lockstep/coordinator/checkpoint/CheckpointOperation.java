package io.lockstep.coordinator.checkpoint;

import io.lockstep.coordinator.agents.AgentCallException;
import io.lockstep.coordinator.agents.AgentClient;
import io.lockstep.coordinator.op.CoordinatorContext;
import io.lockstep.coordinator.op.FailureReason;
import io.lockstep.coordinator.op.GroupLock;
import io.lockstep.coordinator.op.OpenedOperation;
import io.lockstep.coordinator.op.OperationFailedException;
import io.lockstep.coordinator.op.OperationListener;
import io.lockstep.coordinator.op.OperationOpener;
import io.lockstep.coordinator.op.ParallelCalls;
import io.lockstep.coordinator.op.PhaseBarrier;
import io.lockstep.coordinator.op.StaleOperations;
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

import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.TimeUnit;

/**
 * One coordinated checkpoint of a group (DESIGN.md, "Checkpoint"): open, freeze barrier, capture,
 * decide, thaw. Any failure before the decision ends in ABORT, with the group thawed and the
 * partial manifests removed.
 */
public final class CheckpointOperation {
    private static final Logger LOG = LoggerFactory.getLogger(CheckpointOperation.class);

    private final CoordinatorContext ctx;
    private final CheckpointOptions options;
    private final OperationListener listener;

    public CheckpointOperation(CoordinatorContext ctx, CheckpointOptions options, OperationListener listener) {
        this.ctx = ctx;
        this.options = options;
        this.listener = listener;
    }

    public CheckpointResult run(String group) throws Exception {
        ZkLayout.checkName("group", group);
        try (GroupLock lock = GroupLock.acquire(ctx.zk(), ctx.layout(), group, ctx.lockHolder(""))) {
            new StaleOperations(ctx.zk(), ctx.layout()).abortOrphans(group);
            List<String> participants = ctx.directory().members(group);
            if (participants.isEmpty()) {
                throw new OperationFailedException(FailureReason.NO_PARTICIPANTS, null,
                        "group " + group + " has no processes on any live agent (no members under "
                                + ctx.layout().members(group) + ")");
            }
            Map<String, AgentClient> agents = resolveAgents(participants);
            Instant deadline = ctx.clock().instant().plus(options.timeout());
            OpenedOperation op = new OperationOpener(ctx.zk(), ctx.layout()).open(group, OpRecord.newBuilder()
                    .setKind(OpKind.CHECKPOINT)
                    .addAllParticipants(participants)
                    .setCoordinatorId(ctx.coordinatorId())
                    .setOpenedUnixMs(ctx.clock().millis())
                    .setDeadlineUnixMs(deadline.toEpochMilli()));
            lock.describe(ctx.lockHolder(op.opId()));
            try (ParallelCalls calls = new ParallelCalls(participants.size())) {
                return new Run(op, agents, calls, deadline).execute();
            } finally {
                deleteOwner(op);
            }
        }
    }

    private Map<String, AgentClient> resolveAgents(List<String> participants) throws Exception {
        Map<String, AgentClient> agents = new LinkedHashMap<>();
        for (String host : participants) {
            HostRecord record = ctx.directory().host(host).orElseThrow(() -> new OperationFailedException(
                    FailureReason.AGENT_UNAVAILABLE, host, "host " + host
                    + " is a member of the group but its agent is not registered under " + ctx.layout().hosts()));
            agents.put(host, ctx.clients().forHost(record));
        }
        return agents;
    }

    private void deleteOwner(OpenedOperation op) {
        try {
            ctx.zk().delete().guaranteed().forPath(ctx.layout().owner(op.group(), op.opId()));
        } catch (KeeperException.NoNodeException alreadyGone) {
            // Session expired: ZooKeeper removed it for us.
        } catch (Exception e) {
            LOG.warn("op {}: could not delete owner node: {}", op.opId(), e.toString());
        }
    }

    /** The state of one execution: what has happened so far decides what the abort path must undo. */
    private final class Run {
        private final OpenedOperation op;
        private final Map<String, AgentClient> agents;
        private final ParallelCalls calls;
        private final Instant deadline;
        private final List<String> hosts;
        private final Map<String, Long> phaseMicros = new LinkedHashMap<>();
        private final List<StoredManifest> stored = new ArrayList<>();

        Run(OpenedOperation op, Map<String, AgentClient> agents, ParallelCalls calls, Instant deadline) {
            this.op = op;
            this.agents = agents;
            this.calls = calls;
            this.deadline = deadline;
            this.hosts = List.copyOf(agents.keySet());
        }

        CheckpointResult execute() throws Exception {
            try {
                Map<String, FreezeReply> frozen = freeze();
                CaptureTotals totals = capture();
                CatalogEntry entry = commit(frozen, totals);
                Map<String, ThawReply> thawed = thaw();
                long window = frozenWindowMicros(frozen, thawed);
                CatalogEntry finalEntry = entry.toBuilder().setFrozenWindowMs(TimeUnit.MICROSECONDS.toMillis(window)).build();
                recordFrozenWindow(finalEntry);
                LOG.info("group {} op {} epoch {}: COMMIT checkpoint {} ({} hosts, {} processes, {} locks, {} files, frozen {} µs)",
                        op.group(), op.opId(), op.epoch(), entry.getCheckpointId(), hosts.size(), totals.processes,
                        totals.locks, totals.files, window);
                return new CheckpointResult(entry.getCheckpointId(), op.group(), op.epoch(), hosts, totals.processes,
                        totals.locks, totals.files, window, phaseMicros, finalEntry);
            } catch (OperationFailedException failure) {
                throw abort(failure);
            } catch (Exception unexpected) {
                throw abort(new OperationFailedException(FailureReason.ZK_UNAVAILABLE, null,
                        "checkpoint of group " + op.group() + " failed: " + unexpected, unexpected));
            }
        }

        private Map<String, FreezeReply> freeze() throws Exception {
            long start = System.nanoTime();
            listener.phaseStarted("freeze", hosts.size());
            Instant freezeDeadline = earlier(ctx.clock().instant().plus(options.freezeTimeout()), deadline);
            FreezeRequest request = FreezeRequest.newBuilder()
                    .setCtx(op.context())
                    .setDeadlineUnixMs(freezeDeadline.toEpochMilli())
                    .setMaxFrozenMs(options.maxFrozen().toMillis())
                    .build();
            Map<String, FreezeReply> replies = collect("freeze", FailureReason.FREEZE_FAILED,
                    host -> agents.get(host).freeze(request, untilDeadline(freezeDeadline)),
                    reply -> reply.getTasks() + " tasks frozen in " + reply.getFreezeMicros() + " µs ("
                            + reply.getFreezer() + (reply.getDegraded() ? ", degraded" : "") + ")");
            Set<String> missing = new PhaseBarrier(ctx.zk(), ctx.layout(), ctx.clock())
                    .await(op.group(), op.opId(), Phase.FROZEN, hosts, freezeDeadline);
            if (!missing.isEmpty()) {
                throw new OperationFailedException(FailureReason.BARRIER_TIMEOUT, missing.iterator().next(),
                        "freeze barrier not full by its deadline: missing " + missing);
            }
            phaseEnded("freeze", start);
            return replies;
        }

        private CaptureTotals capture() throws Exception {
            long start = System.nanoTime();
            listener.phaseStarted("capture", hosts.size());
            CaptureRequest request = CaptureRequest.newBuilder().setCtx(op.context()).build();
            CaptureTotals totals = new CaptureTotals();
            Map<String, StoredManifest> written = collect("capture", FailureReason.CAPTURE_FAILED, host -> {
                AgentClient.CapturedManifest manifest = agents.get(host).capture(request, untilDeadline(deadline));
                String actual = CheckpointStore.sha256Hex(manifest.framed());
                if (!actual.equals(manifest.sha256Hex())) {
                    throw new OperationFailedException(FailureReason.CAPTURE_FAILED, host, "manifest from host " + host
                            + " arrived damaged: sha256 " + actual + ", agent sent " + manifest.sha256Hex());
                }
                StoredManifest file;
                try {
                    file = ctx.store().write(op.group(), op.opId(), host, manifest.framed());
                } catch (java.io.IOException e) {
                    throw new OperationFailedException(FailureReason.STORE_FAILED, host, e.getMessage(), e);
                }
                synchronized (totals) {
                    stored.add(file);
                    totals.add(manifest);
                }
                return file;
            }, file -> file.size() + " bytes stored");
            Set<String> missing = new PhaseBarrier(ctx.zk(), ctx.layout(), ctx.clock())
                    .await(op.group(), op.opId(), Phase.CAPTURED, hosts, deadline);
            if (!missing.isEmpty()) {
                throw new OperationFailedException(FailureReason.BARRIER_TIMEOUT, missing.iterator().next(),
                        "capture barrier not full by the deadline: missing " + missing);
            }
            totals.manifests.putAll(written);
            phaseEnded("capture", start);
            return totals;
        }

        /** Step "Decide": one multi that checks every frozen node, creates COMMIT, the catalog entry and latest. */
        private CatalogEntry commit(Map<String, FreezeReply> frozen, CaptureTotals totals) throws Exception {
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
                zk.transaction().forOperations(ops);
            } catch (KeeperException e) {
                throw commitRefused(e);
            }
            phaseEnded("commit", start);
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
            listener.phaseStarted("thaw", hosts.size());
            ThawRequest request = ThawRequest.newBuilder().setCtx(op.context()).build();
            Map<String, ParallelCalls.Outcome<ThawReply>> outcomes = calls.run(hosts,
                    host -> agents.get(host).thaw(request, options.rpcTimeout()),
                    outcome -> listener.hostDone("thaw", outcome.hostId(), 0, hosts.size(),
                            outcome.ok() ? "thawed" : ParallelCalls.describe(outcome.failure())));
            Map<String, ThawReply> replies = new LinkedHashMap<>();
            outcomes.forEach((host, outcome) -> {
                if (outcome.ok()) {
                    replies.put(host, outcome.value());
                } else {
                    // Committed already; the agent's watchdog thaws on the decision by itself.
                    LOG.warn("op {}: thaw RPC failed after commit, the agent thaws on the decision: {}", op.opId(),
                            ParallelCalls.describe(outcome.failure()));
                }
            });
            phaseEnded("thaw", start);
            return replies;
        }

        private OperationFailedException abort(OperationFailedException failure) {
            Decision standing;
            try {
                standing = new Decisions(ctx.zk(), ctx.layout()).decide(op.group(), op.opId(),
                        Decision.abort(failure.reason() + ": " + failure.getMessage()));
            } catch (Exception zkDown) {
                // Without ZooKeeper no decision can be written; agents abort themselves when the
                // owner node's session expires.
                LOG.error("op {}: cannot record ABORT: {}", op.opId(), zkDown.toString());
                standing = Decision.abort(failure.getMessage());
            }
            if (standing.isCommit()) {
                // Cannot happen while we own the op (only we write COMMIT), but the decision in
                // ZooKeeper is the truth and the report must say so.
                return new OperationFailedException(failure.reason(), failure.hostId().orElse(null),
                        failure.getMessage() + " (but the operation was already committed)", failure);
            }
            AbortRequest request = AbortRequest.newBuilder().setCtx(op.context()).setReason(standing.reason()).build();
            calls.run(hosts, host -> agents.get(host).abort(request, options.rpcTimeout()), outcome -> {
                if (!outcome.ok()) {
                    LOG.warn("op {}: abort not delivered, the agent aborts on the decision by itself: {}", op.opId(),
                            ParallelCalls.describe(outcome.failure()));
                }
            });
            try {
                ctx.store().delete(op.group(), op.opId());
            } catch (java.io.IOException e) {
                LOG.warn("op {}: could not remove partial manifests: {}", op.opId(), e.toString());
            }
            LOG.info("group {} op {} epoch {}: ABORT {}", op.group(), op.opId(), op.epoch(), standing.reason());
            return failure;
        }

        private <T> Map<String, T> collect(String phase, FailureReason reason, ParallelCalls.HostCall<T> call,
                                           java.util.function.Function<T, String> detail) throws OperationFailedException {
            int[] done = {0};
            Map<String, ParallelCalls.Outcome<T>> outcomes = calls.run(hosts, call, outcome -> {
                synchronized (done) {
                    done[0]++;
                    listener.hostDone(phase, outcome.hostId(), done[0], hosts.size(),
                            outcome.ok() ? detail.apply(outcome.value()) : ParallelCalls.describe(outcome.failure()));
                }
            });
            ParallelCalls.Outcome<T> failed = ParallelCalls.firstFailure(outcomes);
            if (failed != null) {
                Exception failure = failed.failure();
                if (failure instanceof OperationFailedException known) {
                    throw known;
                }
                FailureReason why = reason;
                if (failure instanceof AgentCallException agentFailure && agentFailure.isStaleEpoch()) {
                    why = FailureReason.STALE_EPOCH;
                } else if (failure instanceof AgentCallException agentFailure
                        && agentFailure.code() == io.grpc.Status.Code.UNAVAILABLE) {
                    why = FailureReason.AGENT_UNAVAILABLE;
                }
                throw new OperationFailedException(why, failed.hostId(), ParallelCalls.describe(failure), failure);
            }
            Map<String, T> values = new LinkedHashMap<>();
            outcomes.forEach((host, outcome) -> values.put(host, outcome.value()));
            return values;
        }

        private void phaseEnded(String phase, long startNanos) {
            long micros = (System.nanoTime() - startNanos) / 1000;
            phaseMicros.put(phase, micros);
            listener.phaseEnded(phase, micros);
        }

        private Duration untilDeadline(Instant until) {
            return Duration.ofMillis(Math.max(1, until.toEpochMilli() - ctx.clock().millis()));
        }
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

        void add(AgentClient.CapturedManifest manifest) {
            processes += manifest.processes();
            locks += manifest.locks();
            files += manifest.files();
        }
    }
}
