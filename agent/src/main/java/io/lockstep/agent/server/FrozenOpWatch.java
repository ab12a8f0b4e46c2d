package io.lockstep.agent.server;

import io.lockstep.proto.OpContext;
import io.lockstep.zk.Decision;
import io.lockstep.zk.Decisions;
import io.lockstep.zk.ZkLayout;
import org.apache.curator.framework.CuratorFramework;
import org.apache.curator.framework.state.ConnectionState;
import org.apache.curator.framework.state.ConnectionStateListener;
import org.apache.zookeeper.WatchedEvent;
import org.apache.zookeeper.Watcher;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.time.Duration;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.ScheduledFuture;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.function.Consumer;

/**
 * The agent's watchdog over one frozen operation (DESIGN.md, "Applications never stay frozen
 * forever"). It thaws only when it is safe to: (a) a decision exists, (b) it wrote ABORT itself
 * because the owner vanished or the maximum frozen time passed, or (c) its own session must have
 * expired (then its frozen node is gone and no commit can include this host).
 */
public final class FrozenOpWatch implements AutoCloseable {
    private static final Logger LOG = LoggerFactory.getLogger(FrozenOpWatch.class);

    private final CuratorFramework zk;
    private final ZkLayout layout;
    private final Decisions decisions;
    private final OpContext op;
    private final String hostId;
    private final Duration sessionTimeout;
    private final ScheduledExecutorService timer;
    private final Consumer<String> thaw;
    private final AtomicBoolean closed = new AtomicBoolean();
    private final Watcher nodeWatcher = this::onNodeEvent;
    private final ConnectionStateListener connectionListener = this::onConnectionState;
    private volatile ScheduledFuture<?> maxFrozenTimer;
    private volatile ScheduledFuture<?> sessionLossTimer;
    private volatile long lastContactNanos = System.nanoTime();

    /**
     * @param thaw called at most once, with the reason, when it is safe to thaw
     */
    public FrozenOpWatch(CuratorFramework zk, ZkLayout layout, OpContext op, String hostId, Duration sessionTimeout,
                         ScheduledExecutorService timer, Consumer<String> thaw) {
        this.zk = zk;
        this.layout = layout;
        this.decisions = new Decisions(zk, layout);
        this.op = op;
        this.hostId = hostId;
        this.sessionTimeout = sessionTimeout;
        this.timer = timer;
        this.thaw = thaw;
    }

    /** Starts watching; {@code maxFrozen} counts from now. */
    public void start(Duration maxFrozen) {
        zk.getConnectionStateListenable().addListener(connectionListener);
        maxFrozenTimer = timer.schedule(() -> abortAndThaw("maximum frozen time of " + maxFrozen.toMillis()
                + " ms passed on host " + hostId), maxFrozen.toMillis(), TimeUnit.MILLISECONDS);
        timer.execute(this::check);
    }

    private void onNodeEvent(WatchedEvent event) {
        if (!closed.get()) {
            timer.execute(this::check);
        }
    }

    /** Re-checks decision and owner after every wake-up, and re-arms the watches. */
    private void check() {
        if (closed.get()) {
            return;
        }
        try {
            lastContactNanos = System.nanoTime();
            if (zk.checkExists().usingWatcher(nodeWatcher).forPath(layout.decision(op.getGroup(), op.getOpId())) != null) {
                Decision decision = decisions.read(op.getGroup(), op.getOpId()).orElseThrow();
                fire("decision " + decision);
                return;
            }
            if (zk.checkExists().usingWatcher(nodeWatcher).forPath(layout.owner(op.getGroup(), op.getOpId())) == null) {
                abortAndThaw("coordinator of " + op.getOpId() + " lost (owner node gone) before a decision, seen by host "
                        + hostId);
            }
        } catch (Exception e) {
            // ZooKeeper trouble: the connection listener decides; the guard process bounds everything.
            LOG.warn("op {} host {}: watchdog check failed: {}", op.getOpId(), hostId, e.toString());
        }
    }

    private void abortAndThaw(String reason) {
        if (closed.get()) {
            return;
        }
        try {
            Decision standing = decisions.decide(op.getGroup(), op.getOpId(), Decision.abort(reason));
            fire("decision " + standing);
        } catch (Exception e) {
            // No decision could be written: thawing now could break a commit that includes us.
            // The session-loss path (or the external guard) thaws once our frozen node must be gone.
            LOG.warn("op {} host {}: cannot write ABORT ({}); waiting for session expiry to thaw", op.getOpId(), hostId,
                    e.toString());
        }
    }

    private void onConnectionState(CuratorFramework client, ConnectionState state) {
        if (closed.get()) {
            return;
        }
        switch (state) {
            case SUSPENDED -> LOG.warn("op {} host {}: ZooKeeper connection suspended while frozen", op.getOpId(), hostId);
            case LOST -> {
                // The session must have expired by lastContact + sessionTimeout: thaw after that plus a margin.
                long margin = Math.max(1000, sessionTimeout.toMillis() / 5);
                long sinceContact = TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - lastContactNanos);
                long delay = Math.max(0, sessionTimeout.toMillis() + margin - sinceContact);
                sessionLossTimer = timer.schedule(() -> fire("ZooKeeper session lost; session timeout passed"),
                        delay, TimeUnit.MILLISECONDS);
            }
            case RECONNECTED, CONNECTED -> {
                lastContactNanos = System.nanoTime();
                timer.execute(this::check);
            }
            default -> {
            }
        }
    }

    private void fire(String reason) {
        if (closed.compareAndSet(false, true)) {
            cancelTimers();
            thaw.accept(reason);
        }
    }

    private void cancelTimers() {
        zk.getConnectionStateListenable().removeListener(connectionListener);
        ScheduledFuture<?> max = maxFrozenTimer;
        if (max != null) {
            max.cancel(false);
        }
        ScheduledFuture<?> loss = sessionLossTimer;
        if (loss != null) {
            loss.cancel(false);
        }
    }

    /** Stops watching without thawing (the agent thawed by another path). */
    @Override
    public void close() {
        if (closed.compareAndSet(false, true)) {
            cancelTimers();
        }
    }
}
