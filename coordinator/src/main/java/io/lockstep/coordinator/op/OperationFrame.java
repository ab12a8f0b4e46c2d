package io.lockstep.coordinator.op;

import io.lockstep.zk.Decision;
import io.lockstep.zk.ZkLayout;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.time.Duration;
import java.time.Instant;
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
            throw abort(new OperationFailedException(FailureReason.ZK_UNAVAILABLE, null,
                    kind + " of group " + op.group() + " failed: " + unexpected, unexpected));
        }
    }

    private OperationFailedException abort(OperationFailedException failure) {
        Decision standing = session.decideAbort(failure);
        if (standing.isCommit()) {
            // Only this coordinator writes COMMIT, so this means a bug; the decision in
            // ZooKeeper is the truth and the report must say so.
            return new OperationFailedException(failure.reason(), failure.hostId().orElse(null),
                    failure.getMessage() + " (but the " + kind + " was already committed)", failure);
        }
        tellAgentsAborted(standing);
        discardAborted();
        LOG.info("group {} op {} epoch {}: {} ABORT {}", op.group(), op.opId(), op.epoch(), kind, standing.reason());
        return failure;
    }

    /** The time left until {@code when}, at least 1 ms (a call with no time left fails at once). */
    protected Duration until(Instant when) {
        return Duration.ofMillis(Math.max(1, when.toEpochMilli() - ctx.clock().millis()));
    }
}
