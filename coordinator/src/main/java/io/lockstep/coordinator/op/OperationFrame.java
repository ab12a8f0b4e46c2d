package io.lockstep.coordinator.op;

import io.lockstep.zk.Decision;
import io.lockstep.zk.Decisions;
import io.lockstep.zk.ZkUnavailableException;
import io.lockstep.zk.ZkLayout;
import org.apache.curator.framework.api.transaction.CuratorOp;
import org.apache.zookeeper.KeeperException;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;
import java.util.function.BiConsumer;

/**
 * The frame checkpoint and restore both run in: the listener around a whole run, the one catch
 * that turns every failure into an abort, the abort itself (decision first, then the agents), and
 * the time left to a deadline. A subclass supplies the phases ({@link #phases}) and what telling
 * its agents about an abort means ({@link #tellAgentsAborted}).
 *
 * @param <R> what a committed run returns
 */
public abstract class OperationFrame<R> {
    private static final Logger LOG = LoggerFactory.getLogger(OperationFrame.class);

    /** One run of an operation on a group, reporting to the given listener. */
    @FunctionalInterface
    public interface Body<R> {
        R run(String group, OperationListener listener) throws Exception;
    }

    protected final CoordinatorContext ctx;
    protected final OperationSession session;
    protected final OpenedOperation op;
    protected final AgentFanout fanout;
    protected final Instant deadline;
    private final String kind;
    /** Whether the commit multi was sent: from then on only ZooKeeper's answer tells the outcome. */
    private volatile boolean commitSent;

    protected OperationFrame(String kind, CoordinatorContext ctx, OperationSession session, OpenedOperation op,
                             AgentFanout fanout, Instant deadline) {
        this.kind = kind;
        this.ctx = ctx;
        this.session = session;
        this.op = op;
        this.fanout = fanout;
        this.deadline = deadline;
    }

    /**
     * Runs {@code body} on the group with a fresh phase log in front of {@code listener}, and
     * reports the outcome: {@code committed} on success, {@link OperationListener#failed} otherwise.
     */
    public static <R> R observe(String kind, String group, OperationListener listener, Body<R> body,
                                BiConsumer<OperationListener, R> committed) throws Exception {
        ZkLayout.checkName("group", group);
        // Per run: the phase log remembers this run's op id and epoch.
        OperationListener observed = new PhaseLog().and(listener);
        try {
            R result = body.run(group, observed);
            committed.accept(observed, result);
            return result;
        } catch (Exception failure) {
            observed.failed(kind, group, failure);
            throw failure;
        }
    }

    /** The phases up to the commit and after it; any failure before a COMMIT stands ends in an abort. */
    protected abstract R phases() throws Exception;

    /** Tells every agent that the operation ended without a commit (they also act on the decision by themselves). */
    protected abstract void tellAgentsAborted(Decision standing);

    /** What the operation leaves behind once its ABORT stands, e.g. partial manifests. */
    protected void discardAborted() {
    }

    public final R execute() throws Exception {
        try {
            return phases();
        } catch (OperationFailedException failure) {
            throw abort(failure);
        } catch (Exception unexpected) {
            boolean zooKeeperLost = isZooKeeperLost(unexpected);
            throw abort(new OperationFailedException(zooKeeperLost ? FailureReason.ZK_UNAVAILABLE : FailureReason.INTERNAL,
                    null, kind + " of group " + op.group() + " failed: " + (zooKeeperLost ? "" : "internal error: ")
                    + unexpected, unexpected));
        }
    }

    /** ZooKeeper did not answer (as opposed to a bug, which must not be reported as an unreachable ZooKeeper). */
    static boolean isZooKeeperLost(Throwable failure) {
        return failure instanceof KeeperException.ConnectionLossException
                || failure instanceof KeeperException.SessionExpiredException
                || failure instanceof KeeperException.OperationTimeoutException
                || failure instanceof ZkUnavailableException;
    }

    /**
     * Runs the multi that creates COMMIT (see {@link CommitMulti}), guarded by the group lock and
     * the op's epoch. From here on the abort path undoes nothing unless ZooKeeper answers that the
     * decision is ABORT.
     */
    protected void commitMulti(List<CuratorOp> ops) throws Exception {
        List<CuratorOp> guarded = new ArrayList<>(session.commitGuards());
        guarded.addAll(ops);
        commitSent = true;
        CommitMulti.run(ctx.zk(), new Decisions(ctx.zk(), ctx.layout()), op, guarded);
    }

    /**
     * Nothing committed is ever undone: manifests go, and stubs are told to exit, only once
     * ZooKeeper answered that the decision is ABORT. With no answer after the commit multi was
     * sent, the outcome is unknown and everything stays for the stale-operation clean-up.
     */
    private OperationFailedException abort(OperationFailedException failure) {
        Optional<Decision> standing = session.decideAbort(failure);
        if (standing.isPresent() && standing.get().isCommit()) {
            // Only this coordinator writes COMMIT, so this means a bug; the decision in
            // ZooKeeper is the truth and the report must say so.
            return new OperationFailedException(failure.reason(), failure.hostId().orElse(null),
                    failure.getMessage() + " (but the " + kind + " was already committed)", failure);
        }
        if (standing.isEmpty() && commitSent) {
            LOG.error("group {} op {} epoch {}: {} outcome unknown, nothing undone: {}", op.group(), op.opId(),
                    op.epoch(), kind, failure.getMessage());
            return new OperationFailedException(failure.reason(), failure.hostId().orElse(null), failure.getMessage()
                    + "; whether " + op.opId() + " committed is unknown (ZooKeeper did not answer after the commit was "
                    + "sent), so nothing was undone: `coordinator list --group " + op.group() + "` shows it if it "
                    + "committed, and otherwise the next operation on the group decides it ABORT and retention "
                    + "removes its manifests", failure);
        }
        // Before the commit multi was sent no COMMIT can exist: the agents may stop at once.
        tellAgentsAborted(standing.orElse(Decision.abort(failure.getMessage())));
        if (standing.isPresent()) {
            discardAborted();
        }
        LOG.info("group {} op {} epoch {}: {} ABORT {}{}", op.group(), op.opId(), op.epoch(), kind,
                standing.orElse(Decision.abort(failure.getMessage())).reason(),
                standing.isPresent() ? "" : " (not recorded: ZooKeeper unreachable; partial manifests left to retention)");
        return failure;
    }

    /** The time left until {@code when}, at least 1 ms (a call with no time left fails at once). */
    protected Duration until(Instant when) {
        return Duration.ofMillis(Math.max(1, when.toEpochMilli() - ctx.clock().millis()));
    }
}
