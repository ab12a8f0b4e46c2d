package io.lockstep.coordinator.serve;

import io.lockstep.coordinator.catalog.Catalog;
import io.lockstep.coordinator.checkpoint.CheckpointOperation;
import io.lockstep.coordinator.checkpoint.CheckpointOptions;
import io.lockstep.coordinator.op.CheckpointResult;
import io.lockstep.coordinator.op.CoordinatorContext;
import io.lockstep.coordinator.op.FailureReason;
import io.lockstep.coordinator.op.OperationFailedException;
import io.lockstep.coordinator.op.OperationListener;
import org.apache.curator.framework.recipes.leader.LeaderLatch;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.time.Duration;
import java.util.List;
import java.util.Optional;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.function.Supplier;

/**
 * {@code coordinator serve}: a checkpoint of one group every interval, then retention (each
 * checkpoint reports to a fresh listener, e.g. the metrics'). Several
 * instances may run for the same group; a Curator leader latch elects the one that acts, and the
 * others only wait (the group lock fences any overlap during a leadership change). A tick that
 * finds an operation running is skipped, not queued.
 */
public final class PeriodicCheckpoints implements AutoCloseable {
    private static final Logger LOG = LoggerFactory.getLogger(PeriodicCheckpoints.class);

    /** What one tick did. */
    public enum TickOutcome { COMMITTED, SKIPPED_NOT_LEADER, SKIPPED_BUSY, SKIPPED_PROCESSES_GONE, FAILED }

    /**
     * One tick as the operator reads it: the outcome, the checkpoint it committed (if it did), what
     * retention deleted after it, and why it did not commit otherwise.
     */
    public record Tick(TickOutcome outcome, Optional<String> checkpointId, List<String> deleted, String detail) {
        static Tick of(TickOutcome outcome, String detail) {
            return new Tick(outcome, Optional.empty(), List.of(), detail);
        }
    }

    private static final Duration FIRST_TICK_ELECTION_WAIT = Duration.ofSeconds(10);

    private final CoordinatorContext ctx;
    private final String group;
    private final Duration interval;
    private final int keep;
    private final CheckpointOptions options;
    private final Supplier<OperationListener> listeners;
    private final LeaderLatch latch;
    private final AtomicBoolean stopped = new AtomicBoolean();

    public PeriodicCheckpoints(CoordinatorContext ctx, String group, Duration interval, int keep,
                               CheckpointOptions options, Supplier<OperationListener> listeners) {
        this.ctx = ctx;
        this.group = group;
        this.interval = interval;
        this.keep = keep;
        this.options = options;
        this.listeners = listeners;
        this.latch = new LeaderLatch(ctx.zk(), ctx.layout().group(group) + "/serve-leader", ctx.coordinatorId());
    }

    public void start() throws Exception {
        latch.start();
    }

    public boolean isLeader() {
        return latch.hasLeadership();
    }

    /** Runs ticks every interval until stopped or {@code maxTicks} ticks ran (0: no limit). */
    public void run(int maxTicks, TickListener listener) throws InterruptedException {
        int ticks = 0;
        // The election takes a moment: without it a lone instance would skip its first tick.
        latch.await(Math.min(interval.toNanos(), FIRST_TICK_ELECTION_WAIT.toNanos()), TimeUnit.NANOSECONDS);
        long next = System.nanoTime();
        while (!stopped.get() && (maxTicks == 0 || ticks < maxTicks)) {
            long wait = next - System.nanoTime();
            if (wait > 0) {
                // Leadership can arrive while waiting; either way the tick runs at its time.
                latch.await(wait, TimeUnit.NANOSECONDS);
                if (next - System.nanoTime() > 0) {
                    synchronized (stopped) {
                        long left = TimeUnit.NANOSECONDS.toMillis(next - System.nanoTime());
                        if (left > 0 && !stopped.get()) {
                            stopped.wait(left);
                        }
                    }
                }
                continue;
            }
            next += interval.toNanos();
            listener.tick(tick());
            ticks++;
        }
    }

    @FunctionalInterface
    public interface TickListener {
        void tick(Tick tick);
    }

    /**
     * One checkpoint, then retention — only after a commit: a tick that did not commit (busy,
     * failed, the group's processes gone) never makes retention delete anything.
     */
    Tick tick() {
        if (!latch.hasLeadership()) {
            return Tick.of(TickOutcome.SKIPPED_NOT_LEADER, "another instance is the leader");
        }
        CheckpointResult result;
        try {
            result = new CheckpointOperation(ctx, options, listeners.get()).run(group);
        } catch (OperationFailedException e) {
            if (e.reason() == FailureReason.GROUP_BUSY) {
                LOG.info("serve {}: tick skipped: {}", group, e.getMessage());
                return Tick.of(TickOutcome.SKIPPED_BUSY, e.getMessage());
            }
            if (e.reason() == FailureReason.PROCESSES_GONE || e.reason() == FailureReason.NO_PARTICIPANTS) {
                // Gone before the capture saw it, or after the agents ended their memberships: the same for serve.
                LOG.warn("serve {}: tick skipped, nothing committed or deleted: {}", group, e.getMessage());
                return Tick.of(TickOutcome.SKIPPED_PROCESSES_GONE, e.getMessage());
            }
            LOG.warn("serve {}: checkpoint failed ({}): {}", group, e.reason(), e.getMessage());
            return Tick.of(TickOutcome.FAILED, e.reason() + ": " + e.getMessage());
        } catch (Exception e) {
            LOG.warn("serve {}: checkpoint failed: {}", group, e.toString());
            return Tick.of(TickOutcome.FAILED, e.toString());
        }
        String committed = result.checkpointId() + " (" + result.hosts().size() + " hosts, " + result.processes()
                + " processes, " + result.locks() + " locks)";
        LOG.info("serve {}: checkpoint {} committed", group, committed);
        try {
            Catalog.Retention removed = new Catalog(ctx).retain(group, keep);
            LOG.info("serve {}: retention keeps {}: deleted {}", group, keep,
                    removed.deletedCheckpoints().isEmpty() ? "nothing" : removed.deletedCheckpoints());
            removed.unreadable().forEach(problem -> LOG.warn("serve {}: checkpoint kept but not restorable from store {}: {}",
                    group, ctx.store().uri(), problem));
            // Snapshots left on a host that is down are logged (with where) by CheckpointSnapshots and retried next tick.
            removed.snapshots().deleted().forEach(line -> LOG.info("serve {}: deleted snapshots of {}", group, line));
            removed.snapshots().unknown().forEach(line -> LOG.warn("serve {}: {}", group, line));
            return new Tick(TickOutcome.COMMITTED, Optional.of(result.checkpointId()), removed.deletedCheckpoints(), committed);
        } catch (Exception e) {
            LOG.warn("serve {}: retention after {} failed: {}", group, result.checkpointId(), e.toString());
            return new Tick(TickOutcome.COMMITTED, Optional.of(result.checkpointId()), List.of(),
                    committed + "; retention failed: " + e.getMessage());
        }
    }

    public void stop() {
        stopped.set(true);
        synchronized (stopped) {
            stopped.notifyAll();
        }
    }

    @Override
    public void close() throws Exception {
        stop();
        latch.close();
    }
}
