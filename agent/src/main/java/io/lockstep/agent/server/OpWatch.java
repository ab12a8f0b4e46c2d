package io.lockstep.agent.server;

import io.lockstep.proto.OpContext;
import io.lockstep.zk.Decision;
import io.lockstep.zk.Decisions;
import io.lockstep.zk.ZkLayout;
import org.apache.curator.framework.CuratorFramework;
import org.apache.curator.framework.state.ConnectionState;
import org.apache.curator.framework.state.ConnectionStateListener;
import org.apache.zookeeper.KeeperException;
import org.apache.zookeeper.WatchedEvent;
import org.apache.zookeeper.Watcher;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.time.Duration;
import java.util.List;
import java.util.Optional;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.ScheduledFuture;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.function.Consumer;

/**
 * The agent's watchdog over one operation it takes part in (docs/DESIGN.md, "Applications never stay
 * frozen forever"). It reports a verdict exactly once, and only when acting on it is safe: (a) a
 * decision exists, (b) it wrote ABORT itself because the owner vanished or the maximum time
 * passed, or (c) — when asked to — its own session must have expired, so that its barrier nodes
 * are gone and no commit can include this host.
 */
public final class OpWatch implements AutoCloseable {
    private static final Logger LOG = LoggerFactory.getLogger(OpWatch.class);

    /** What the watch saw: the decision that stands, or none when the session was lost. */
    public record Verdict(Optional<Decision> decision, String reason) {
        public boolean committed() {
            return decision.map(Decision::isCommit).orElse(false);
        }
    }

    private final CuratorFramework zk;
    private final ZkLayout layout;
    private final Decisions decisions;
    private final OpContext op;
    private final String hostId;
    private final Duration sessionTimeout;
    private final ScheduledExecutorService timer;
    private final boolean actOnSessionLoss;
    private final Consumer<Verdict> onVerdict;
    private final AtomicBoolean closed = new AtomicBoolean();
    private final Watcher nodeWatcher = this::onNodeEvent;
    private final ConnectionStateListener connectionListener = this::onConnectionState;
    private volatile ScheduledFuture<?> maxTimer;
    private volatile ScheduledFuture<?> sessionLossTimer;
    /** Nodes whose creation is a signal to act on before the verdict (a checkpoint's "all frozen", "all captured"). */
    private final List<Signal> signals = new CopyOnWriteArrayList<>();
    /** Set when the connection is seen lost: the server cannot have heard from this session after that moment. */
    private volatile boolean disconnected;
    private volatile long disconnectedSinceNanos;

    /**
     * @param actOnSessionLoss report a verdict without decision once the session must have expired
     *     (right for a freeze: the frozen node is gone; wrong for a restore, which must learn the decision)
     * @param onVerdict called at most once
     */
    public OpWatch(CuratorFramework zk, ZkLayout layout, OpContext op, String hostId, Duration sessionTimeout,
                   ScheduledExecutorService timer, boolean actOnSessionLoss, Consumer<Verdict> onVerdict) {
        this.zk = zk;
        this.layout = layout;
        this.decisions = new Decisions(zk, layout);
        this.op = op;
        this.hostId = hostId;
        this.sessionTimeout = sessionTimeout;
        this.timer = timer;
        this.actOnSessionLoss = actOnSessionLoss;
        this.onVerdict = onVerdict;
    }

    /** A node to watch for, what to run once it exists, and whether that ends the maximum time. */
    private record Signal(String path, Runnable action, boolean endsMaxTime, AtomicBoolean fired) {
    }

    /**
     * Also watch for {@code path} to be created (an exists watch on that one node: no listing of
     * anyone's entries), and run {@code action} once when it is (on the timer). With
     * {@code endsMaxTime} the maximum time no longer runs from then on: the signal ends what it
     * bounded (a frozen group), and the watch goes on only to report the decision. Call before
     * {@link #start}.
     */
    public OpWatch onSignal(String path, boolean endsMaxTime, Runnable action) {
        signals.add(new Signal(path, action, endsMaxTime, new AtomicBoolean()));
        return this;
    }

    /** Starts watching; {@code maxTime} counts from now. */
    public void start(Duration maxTime) {
        zk.getConnectionStateListenable().addListener(connectionListener);
        if (!zk.getZookeeperClient().isConnected()) {
            markDisconnected();
        }
        maxTimer = timer.schedule(() -> abortAndReport("maximum time of " + maxTime.toMillis()
                + " ms for " + op.getOpId() + " passed on host " + hostId), maxTime.toMillis(), TimeUnit.MILLISECONDS);
        timer.execute(this::check);
    }

    private void onNodeEvent(WatchedEvent event) {
        // ZooKeeper hands connection changes (type None) to every watcher as well; those are the
        // connection listener's. Checking on a disconnect would only park the watchdog's threads in
        // ZooKeeper retries, and with them the session-loss timer that must thaw the group.
        if (closed.get() || event.getType() == Watcher.Event.EventType.None) {
            return;
        }
        // The decision appeared: read it at once. One round trip instead of check()'s exists +
        // read, on the path from the commit to the thaw that every host takes at the same moment.
        boolean created = event.getType() == Watcher.Event.EventType.NodeCreated;
        for (Signal signal : signals) {
            if (created && event.getPath().equals(signal.path())) {
                // The creation is the whole signal: nothing to read.
                timer.execute(() -> signal(signal));
                return;
            }
        }
        boolean decided = created && layout.decision(op.getGroup(), op.getOpId()).equals(event.getPath());
        timer.execute(decided ? this::readDecision : this::check);
    }

    private void readDecision() {
        if (closed.get() || !zk.getZookeeperClient().isConnected()) {
            return; // as in check(): RECONNECTED checks again
        }
        try {
            Optional<Decision> decision = decisions.read(op.getGroup(), op.getOpId());
            if (decision.isPresent()) {
                fire(new Verdict(decision, "decision " + decision.get()));
                return;
            }
        } catch (Exception e) {
            LOG.warn("op {} host {}: reading the decision failed: {}", op.getOpId(), hostId, e.toString());
        }
        // Gone again or unreadable: the full check re-arms the watches.
        check();
    }

    /** Re-checks decision and owner after every wake-up, and re-arms the watches. */
    private void check() {
        if (closed.get() || !zk.getZookeeperClient().isConnected()) {
            // Disconnected: a call now would block this watchdog thread (which also runs the
            // session-loss thaw) for the client's whole retry budget; RECONNECTED checks again.
            return;
        }
        try {
            if (zk.checkExists().usingWatcher(nodeWatcher).forPath(layout.decision(op.getGroup(), op.getOpId())) != null) {
                Decision decision = decisions.read(op.getGroup(), op.getOpId()).orElseThrow();
                fire(new Verdict(Optional.of(decision), "decision " + decision));
                return;
            }
            for (Signal signal : signals) {
                if (!signal.fired().get() && zk.checkExists().usingWatcher(nodeWatcher).forPath(signal.path()) != null) {
                    signal(signal);
                }
            }
            if (zk.checkExists().usingWatcher(nodeWatcher).forPath(layout.owner(op.getGroup(), op.getOpId())) == null) {
                abortAndReport("coordinator of " + op.getOpId() + " lost (owner node gone) before a decision, seen by host "
                        + hostId);
            }
        } catch (Exception e) {
            // ZooKeeper trouble: the connection listener decides; the guard process bounds everything.
            LOG.warn("op {} host {}: watchdog check failed: {}", op.getOpId(), hostId, e.toString());
        }
    }

    /**
     * This host created {@code path} itself (its entry completed the barrier): run its action now,
     * in the caller's thread, instead of on the notification of its own write. Once, like any signal.
     */
    public void signalled(String path) {
        for (Signal signal : signals) {
            if (signal.path().equals(path)) {
                signal(signal);
                return;
            }
        }
        throw new IllegalArgumentException("no signal " + path + " in the watch of " + op.getOpId());
    }

    private void signal(Signal signal) {
        if (closed.get() || !signal.fired().compareAndSet(false, true)) {
            return;
        }
        ScheduledFuture<?> max = maxTimer;
        if (signal.endsMaxTime() && max != null) {
            max.cancel(false);
        }
        signal.action().run();
    }

    private void abortAndReport(String reason) {
        if (closed.get()) {
            return;
        }
        try {
            Decision standing = decisions.decide(op.getGroup(), op.getOpId(), Decision.abort(reason));
            fire(new Verdict(Optional.of(standing), "decision " + standing));
        } catch (KeeperException.NoNodeException retired) {
            // The op record itself is gone: only retention removes one, and only once it is decided
            // (restores: only ABORT ones; checkpoints: whose catalog entry was deleted, where a thaw
            // is right either way). An agent cut off while the decision was read and retired must
            // still end its part, not hold its stubs' locks for ever.
            Decision retiredAbort = Decision.abort("op " + op.getOpId() + " was decided and removed by retention "
                    + "while host " + hostId + " could not read its decision");
            fire(new Verdict(Optional.of(retiredAbort), "op record removed by retention"));
        } catch (Exception e) {
            // No decision could be written: acting now could break a commit that includes us. The
            // session-loss path (or, for a freeze, the external guard) ends the wait.
            LOG.warn("op {} host {}: cannot write ABORT ({}); waiting for ZooKeeper", op.getOpId(), hostId, e.toString());
        }
    }

    private void onConnectionState(CuratorFramework client, ConnectionState state) {
        if (closed.get()) {
            return;
        }
        switch (state) {
            case SUSPENDED -> {
                markDisconnected();
                LOG.warn("op {} host {}: ZooKeeper connection suspended while frozen", op.getOpId(), hostId);
            }
            case LOST -> {
                if (!actOnSessionLoss) {
                    return;
                }
                // The server expires the session a session timeout after it last heard from it, which
                // was before the connection was seen lost; act a margin after that (the server expires
                // sessions at its next tick). Not counted from the last successful read (pings keep
                // the session alive long after it), nor from LOST (Curator may post it earlier).
                markDisconnected();
                long margin = Math.max(1000, sessionTimeout.toMillis() / 5);
                long sinceLost = TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - disconnectedSinceNanos);
                long delay = Math.max(0, sessionTimeout.toMillis() + margin - sinceLost);
                sessionLossTimer = timer.schedule(() -> fire(new Verdict(Optional.empty(),
                                "ZooKeeper session of host " + hostId + " lost; session timeout passed")),
                        delay, TimeUnit.MILLISECONDS);
            }
            case RECONNECTED, CONNECTED -> {
                disconnected = false;
                timer.execute(this::check);
            }
            default -> {
            }
        }
    }

    private void markDisconnected() {
        if (!disconnected) {
            disconnectedSinceNanos = System.nanoTime();
            disconnected = true;
        }
    }

    private void fire(Verdict verdict) {
        if (closed.compareAndSet(false, true)) {
            cancelTimers();
            onVerdict.accept(verdict);
        }
    }

    private void cancelTimers() {
        zk.getConnectionStateListenable().removeListener(connectionListener);
        ScheduledFuture<?> max = maxTimer;
        if (max != null) {
            max.cancel(false);
        }
        ScheduledFuture<?> loss = sessionLossTimer;
        if (loss != null) {
            loss.cancel(false);
        }
    }

    /** Stops watching without a verdict (the agent acted on the operation by another path). */
    @Override
    public void close() {
        if (closed.compareAndSet(false, true)) {
            cancelTimers();
        }
    }
}
