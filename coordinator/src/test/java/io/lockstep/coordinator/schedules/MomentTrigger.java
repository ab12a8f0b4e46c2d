package io.lockstep.coordinator.schedules;

import io.lockstep.coordinator.op.OperationListener;

import java.time.Duration;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;

/**
 * Fires a fault once, at a cycle's moment of an in-process operation: synchronously on the
 * operation's thread when there is no delay (exactly at the boundary), else from a timer while
 * the operation goes on. A fault that fails to inject is kept for the cycle's checks.
 */
final class MomentTrigger implements OperationListener {
    private final Cycle cycle;
    private final Runnable fault;
    private final ScheduledExecutorService timer;
    private final AtomicBoolean fired = new AtomicBoolean();
    private final List<Throwable> injectionErrors = new CopyOnWriteArrayList<>();
    private final CompletableFuture<Void> injected = new CompletableFuture<>();

    MomentTrigger(Cycle cycle, Runnable fault, ScheduledExecutorService timer) {
        this.cycle = cycle;
        this.fault = fault;
        this.timer = timer;
    }

    @Override
    public void phaseStarted(String phase, int total) {
        if (cycle.moment().equals(FaultKind.START)) {
            fire();
        }
    }

    @Override
    public void phaseEnded(String phase, long micros) {
        if (cycle.moment().equals(phase)) {
            fire();
        }
    }

    private void fire() {
        if (cycle.fault() == FaultKind.NONE || !fired.compareAndSet(false, true)) {
            return;
        }
        if (cycle.delayMs() == 0) {
            inject();
        } else {
            timer.schedule(this::inject, cycle.delayMs(), TimeUnit.MILLISECONDS);
        }
    }

    private void inject() {
        try {
            fault.run();
        } catch (Throwable e) {
            injectionErrors.add(e);
        } finally {
            injected.complete(null);
        }
    }

    /** Waits, bounded, for a delayed fault that the operation's end may have overtaken. */
    void awaitInjected(Duration atMost) throws Exception {
        if (fired()) {
            injected.get(atMost.toMillis(), TimeUnit.MILLISECONDS);
        }
    }

    /** The operation reached the moment (the fault may still be on its way after a delay). */
    boolean fired() {
        return fired.get();
    }

    List<Throwable> injectionErrors() {
        return injectionErrors;
    }
}
