package io.lockstep.agent.restore;

import io.lockstep.proto.FromStub;
import io.lockstep.proto.LockRecord;
import io.lockstep.proto.StubLock;
import io.lockstep.proto.StubPlan;
import io.lockstep.proto.StubPrepare;
import io.lockstep.proto.StubRelease;
import io.lockstep.proto.StubStatus;
import io.lockstep.proto.ToStub;
import java.io.IOException;
import java.nio.file.Path;
import java.time.Duration;
import java.time.Instant;
import java.util.List;
import java.util.Optional;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import java.util.concurrent.locks.ReentrantLock;

/**
 * The agent's grip on one restore stub: stage, prepare, release, each bounded by a deadline.
 * Requests are one at a time; aborting ({@code release(false)}, {@link #close()}) is not: it
 * may cut into a waiting prepare from another thread. Before a committed release, closing ends
 * the stub (it exits when its channel closes, exactly as when the agent dies, and is killed if
 * it has not within {@link #EXIT_GRACE}); after it, the process is the restored program and
 * closing only drops the channel. After a {@link StubException} the stub's state is unknown:
 * close the handle.
 */
public final class StubHandle implements AutoCloseable {
    /** How long after its deadline a stub may take to report a TIMEOUT it detected itself. */
    static final Duration REPLY_GRACE = Duration.ofSeconds(2);
    /** How long a stub may take to exit after it was told to (or lost its channel). */
    static final Duration EXIT_GRACE = Duration.ofSeconds(5);

    private enum State { CONNECTED, STAGED, PREPARED, COMMITTED, ENDED }

    private final Process process;
    private final AgentChannel channel;
    private final StubPlan plan;
    private final Optional<Path> outputLog;
    private final ReentrantLock calls = new ReentrantLock();
    private volatile int pid;
    private volatile State state = State.CONNECTED;
    /** A committing RELEASE went to the stub: from then on it is never ended, whatever its answer. */
    private volatile boolean commitSent;

    StubHandle(Process process, AgentChannel channel, StubPlan plan, Optional<Path> outputLog) {
        this.process = process;
        this.channel = channel;
        this.plan = plan;
        this.outputLog = outputLog;
        this.pid = (int) process.pid();
    }

    /** Whether a lock round (or a reset) succeeded: the stub then outlives a lost agent (orphan wait). */
    public boolean prepared() {
        return state == State.PREPARED;
    }

    /** The stub's pid; after a committed release, the restored program's pid. */
    public int pid() {
        return pid;
    }

    public StubPlan plan() {
        return plan;
    }

    /** The fresh output file the agent gave the process as fds 1 and 2, when its plan asked for one. */
    public Optional<Path> outputLog() {
        return outputLog;
    }

    /** The started process (the stub, later the restored program), for the agent to watch and reap. */
    public Process process() {
        return process;
    }

    /**
     * Whether the stub (later the program) still runs. A killed stub holds no lock any more, yet
     * {@link Process#isAlive()} says true until the JVM has reaped it: /proc tells.
     */
    public boolean running() {
        return process.isAlive() && !io.lockstep.agent.proc.ProcessState.exited(process.pid());
    }

    /** Sends the plan and waits until the stub dropped its privileges and reopened every file. */
    public void stage(Instant deadline) throws StubException {
        calls.lock();
        try {
            expect(State.CONNECTED, "stage");
            FromStub reply = call(ToStub.newBuilder().setPlan(plan).build(), deadline, deadline, "STAGED");
            if (reply.getStatus() != StubStatus.STUB_STAGED) {
                throw failure(reply, "staging");
            }
            pid = reply.getPid();
            state = State.STAGED;
        } finally {
            calls.unlock();
        }
    }

    /**
     * Takes the locks in the given (global) order. Non-blocking: the first conflict ends the
     * round; blocking: waits for each lock up to the deadline. On CONFLICT and TIMEOUT the stub
     * holds nothing, and the handle may prepare again.
     */
    public PrepareOutcome prepare(List<LockRecord> locks, boolean blocking, Instant deadline)
            throws StubException, PlanRefusedException {
        return round(StubPrepare.newBuilder().addAllLocks(StubPlanner.lockRequests(plan, locks)).setBlocking(blocking)
                .setDeadlineUnixMs(deadline.toEpochMilli()).build(), deadline);
    }

    /** Gives back every lock of every earlier round (before a retry in strict global order). */
    public void reset(Instant deadline) throws StubException {
        PrepareOutcome outcome = round(StubPrepare.newBuilder().setReset(true)
                .setDeadlineUnixMs(deadline.toEpochMilli()).build(), deadline);
        if (!outcome.prepared()) {
            throw new StubException(pid, -1, "", "restore stub pid " + pid + " could not release its locks: "
                    + outcome.message());
        }
    }

    private PrepareOutcome round(StubPrepare prepare, Instant deadline) throws StubException {
        calls.lock();
        try {
            // Rounds add up: the strict global order may give one stub several rounds.
            expectOneOf("prepare", State.STAGED, State.PREPARED);
            FromStub reply = call(ToStub.newBuilder().setPrepare(prepare).build(), deadline,
                    deadline.plus(REPLY_GRACE), "PREPARED");
            PrepareOutcome.Result result = switch (reply.getStatus()) {
                case STUB_PREPARED -> PrepareOutcome.Result.PREPARED;
                case STUB_CONFLICT -> PrepareOutcome.Result.CONFLICT;
                case STUB_TIMEOUT -> PrepareOutcome.Result.TIMEOUT;
                default -> throw failure(reply, "prepare");
            };
            if (result == PrepareOutcome.Result.PREPARED) {
                state = State.PREPARED;
            }
            return new PrepareOutcome(result, reply.getLocksHeld(), reply.hasLock() ? reply.getLock() : null,
                    reply.getPath(), reply.hasLock() ? reply.getHolderPid() : -1, reply.getMessage());
        } finally {
            calls.unlock();
        }
    }

    /**
     * commit: the stub execs the restart command, keeping pid, fds and locks; returns once it
     * did (its channel closed on exec). Otherwise (abort) the stub exits and the kernel drops its
     * locks; returns once it is gone, killing it if it has not exited by the deadline.
     */
    public void release(boolean commit, Instant deadline) throws StubException {
        if (!commit) {
            if (state == State.COMMITTED) {
                throw new StubException(pid, -1, "", "cannot abort process " + pid + ": it was already released");
            }
            end(deadline, true);
            return;
        }
        calls.lock();
        try {
            // A stub whose process held no lock (a waiter) is released straight from STAGED.
            expectOneOf("release", State.STAGED, State.PREPARED);
            // The decision is COMMIT: an agent stopped past the deadline before this call (a pause, a long
            // GC) still gives the stub its moment to exec, and never ends it afterwards — an ended stub
            // would take its locks with it and let another host's waiter run before its holder.
            Instant atLeast = Instant.now().plus(REPLY_GRACE);
            Instant until = deadline.isAfter(atLeast) ? deadline : atLeast;
            commitSent = true;
            FromStub reply = call(ToStub.newBuilder().setRelease(StubRelease.newBuilder().setCommit(true)).build(),
                    until, until, null);
            if (reply != null) {
                throw failure(reply, "release");
            }
            state = State.COMMITTED;
            closeChannel();
        } finally {
            calls.unlock();
        }
    }

    @Override
    public void close() {
        if (state == State.COMMITTED || state == State.ENDED || commitSent) {
            // After a committing RELEASE the process is, or is about to become, the restored program:
            // a stub still stuck before its exec keeps its locks, which is safe; ending it is not.
            closeChannel();
            return;
        }
        // Told, not only cut off: a prepared stub whose channel closes without a word takes its agent
        // for dead and waits for a restarted one, keeping its locks.
        end(Instant.now().plus(EXIT_GRACE), true);
    }

    /**
     * Ends the stub, told to (abort) or not: a closed channel alone makes it exit. The abort
     * message is only sent when no request is in flight; otherwise closing the channel, which
     * also fails the waiting request at once, is the message.
     */
    private void end(Instant deadline, boolean tellStub) {
        if (tellStub && calls.tryLock()) {
            try {
                channel.send(ToStub.newBuilder().setRelease(StubRelease.newBuilder().setCommit(false)).build(),
                        deadline);
            } catch (IOException | TimeoutException e) {
                // The stub is gone or stuck: closing the channel and the kill below end it either way.
            } finally {
                calls.unlock();
            }
        }
        state = State.ENDED;
        closeChannel();
        try {
            long left = Math.max(0, Duration.between(Instant.now(), deadline).toMillis());
            process.onExit().get(left, TimeUnit.MILLISECONDS);
        } catch (TimeoutException | ExecutionException e) {
            kill();
        } catch (InterruptedException e) {
            kill();
            Thread.currentThread().interrupt();
        }
    }

    private void kill() {
        ProcessHandle.of(pid).ifPresent(ProcessHandle::destroyForcibly);
        process.destroyForcibly();
        try {
            process.onExit().get(EXIT_GRACE.toMillis(), TimeUnit.MILLISECONDS);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        } catch (ExecutionException | TimeoutException e) {
            // SIGKILL cannot be refused; a process still not reaped is stuck in the kernel.
        }
    }

    private void closeChannel() {
        try {
            channel.close();
        } catch (IOException e) {
            // Nothing left to flush: the stub reads EOF either way.
        }
    }

    /** One request, one reply; a null reply means the stub closed the channel. */
    private FromStub call(ToStub request, Instant sendDeadline, Instant replyDeadline, String expected)
            throws StubException {
        String stub = "restore stub pid " + pid + " of process " + plan.getOldPid();
        try {
            channel.send(request, sendDeadline);
            FromStub reply = channel.receive(replyDeadline);
            if (reply == null && expected != null) {
                throw new StubException(pid, -1, "", stub + " closed its channel instead of answering " + expected
                        + exitText());
            }
            return reply;
        } catch (TimeoutException e) {
            throw new StubException(pid, -1, "", stub + " did not answer " + (expected == null ? "RELEASE" : expected)
                    + " before its deadline");
        } catch (StubException e) {
            throw e;
        } catch (IOException e) {
            throw new StubException(pid, stub + ": control channel failed"
                    + (state == State.ENDED ? " (the stub was aborted)" : "") + ": " + e, e);
        }
    }

    private String exitText() {
        try {
            return process.waitFor(200, TimeUnit.MILLISECONDS) ? " (exit code " + process.exitValue() + ")" : "";
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            return "";
        }
    }

    private StubException failure(FromStub reply, String step) {
        return new StubException(pid, reply.getFd(), reply.getPath(), "restore stub pid " + pid + " of process "
                + plan.getOldPid() + " failed " + step + ": " + reply.getMessage());
    }

    private void expectOneOf(String step, State... wanted) throws StubException {
        for (State ok : wanted) {
            if (state == ok) {
                return;
            }
        }
        throw new StubException(pid, -1, "", "cannot " + step + " restore stub pid " + pid + ": it is "
                + state.name().toLowerCase() + ", not " + java.util.Arrays.toString(wanted).toLowerCase());
    }

    private void expect(State wanted, String step) throws StubException {
        if (state != wanted) {
            throw new StubException(pid, -1, "", "cannot " + step + " restore stub pid " + pid + ": it is "
                    + state.name().toLowerCase() + ", not " + wanted.name().toLowerCase());
        }
    }
}
