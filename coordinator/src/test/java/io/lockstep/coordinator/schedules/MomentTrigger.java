package io.lockstep.coordinator.schedules;

import io.lockstep.coordinator.op.CheckpointResult;
import io.lockstep.coordinator.op.OperationListener;
import io.lockstep.coordinator.op.RestoreResult;

import java.time.Duration;
import java.util.List;
import java.util.Optional;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;

/**
 * Fires a fault once, at a cycle's moment of an in-process operation: synchronously on the
 * operation's thread when there is no delay (exactly at the boundary), else from a timer while
 * the operation goes on. The fault is injected only while the operation is still in progress
 * (the end of the operation waits for an injection under way), and the phase it landed in is
 * recorded; a delayed fault that the operation's end overtook is not injected at all. A fault
 * that fails to inject is kept for the cycle's checks.
 */
final class MomentTrigger implements OperationListener {
    private final Cycle cycle;
    private final long delayMs;
    private final Runnable fault;
    private final ScheduledExecutorService timer;
    private final AtomicBoolean fired = new AtomicBoolean();
    private final List<Throwable> injectionErrors = new CopyOnWriteArrayList<>();
    private final CompletableFuture<Void> settled = new CompletableFuture<>();
    /** Where the operation is: "during P" between P's start and end, "after P" once P ended. */
    private volatile String position = "before the first phase";
    private boolean operationEnded;
    private String landedIn;

    MomentTrigger(Cycle cycle, long delayMs, Runnable fault, ScheduledExecutorService timer) {
        this.cycle = cycle;
        this.delayMs = delayMs;
        this.fault = fault;
        this.timer = timer;
    }

    @Override
    public void phaseStarted(String phase, int total) {
        position = "during " + phase;
        if (cycle.moment().equals(FaultKind.START)) {
            fire();
        }
    }

    @Override
    public void phaseEnded(String phase, long micros) {
        position = "after " + phase;
        if (cycle.moment().equals(phase)) {
            fire();
        }
    }

    /** The restore's confirm round reports no phase end: its last host's answer ends it. */
    @Override
    public void hostDone(String phase, String hostId, int done, int total, String detail) {
        if (phase.equals("confirm") && done == total) {
            phaseEnded(phase, 0);
        }
    }

    @Override
    public void checkpointCommitted(CheckpointResult result) {
        operationEnded();
    }

    @Override
    public void restoreCommitted(RestoreResult result) {
        operationEnded();
    }

    @Override
    public void failed(String kind, String group, Exception failure) {
        operationEnded();
    }

    /** The operation returned (or reported its end): from now on a due fault is not injected. */
    synchronized void operationEnded() {
        operationEnded = true;
    }

    private void fire() {
        if (!cycle.fault().triggered() || !fired.compareAndSet(false, true)) {
            return;
        }
        if (delayMs == 0) {
            inject();
        } else {
            timer.schedule(this::inject, delayMs, TimeUnit.MILLISECONDS);
        }
    }

    /** Under the lock: the operation cannot be marked ended while its fault is being injected. */
    private synchronized void inject() {
        try {
            if (!operationEnded) {
                landedIn = position;
                fault.run();
            }
        } catch (Throwable e) {
            injectionErrors.add(e);
        } finally {
            settled.complete(null);
        }
    }

    /** Waits, bounded, until a fault whose moment was reached was injected or overtaken by the operation's end. */
    void awaitSettled(Duration atMost) throws Exception {
        if (fired.get()) {
            settled.get(atMost.toMillis(), TimeUnit.MILLISECONDS);
        }
    }

    /** The phase the fault landed in while the operation was in progress; empty if it never did. */
    synchronized Optional<String> landedIn() {
        return Optional.ofNullable(landedIn);
    }

    List<Throwable> injectionErrors() {
        return injectionErrors;
    }
}
