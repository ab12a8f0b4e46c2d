package io.lockstep.agent.cgroup;

import io.lockstep.agent.nativeio.Native;
import java.io.File;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.time.Instant;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.regex.Pattern;
import java.util.Set;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicReference;

/**
 * The maximum frozen time, kept by a process outside this JVM: a shell that sleeps for
 * {@code maxFrozen} and then runs the freezer's {@link Freezer#thawScript() thaw script}, unless
 * cancelled first. It runs in its own session (setsid), so a signal to the agent's process group
 * or the agent's death does not take it along, and outside the group's cgroup, so freezing the
 * group does not freeze it. (A service manager that kills a unit's whole cgroup on stop would
 * still kill it: run the agent with systemd {@code KillMode=process}: with {@code mixed} systemd kills what
 * is left in the unit's cgroup once the agent is gone, and that would be the guards.)
 *
 * <p>Arm it before {@link Freezer#freeze}, so there is no moment at which the group is frozen and
 * unguarded, and give that freeze a deadline no later than {@link #firesAt()}: a freeze still
 * under way when the guard fires would freeze the group after its only thaw (for SIGSTOP, stop
 * processes the guard never saw).
 */
public final class FreezeGuard implements ArmedGuard, AutoCloseable {
    private static final int SIGKILL = 9;
    private static final List<Path> SETSID = List.of(Path.of("/usr/bin/setsid"), Path.of("/bin/setsid"));
    private static final Duration REAP_TIMEOUT = Duration.ofSeconds(5);
    private static final Duration SESSION_TIMEOUT = Duration.ofSeconds(5);

    private enum State { ARMED, CANCELLED, FIRED }

    private final Process process;
    private final Duration maxFrozen;
    private final Instant firesAt;
    private final AtomicReference<State> state = new AtomicReference<>(State.ARMED);
    /** Set before a cancel's kill: the guard's exit is then the cancel's, not a firing. */
    private volatile boolean cancelling;

    private FreezeGuard(Process process, Duration maxFrozen, Instant firesAt) {
        this.process = process;
        this.maxFrozen = maxFrozen;
        this.firesAt = firesAt;
    }

    /** Starts a guard that thaws what {@code freezer} freezes after {@code maxFrozen}. */
    public static FreezeGuard arm(Freezer freezer, Duration maxFrozen) throws IOException {
        return arm(freezer, maxFrozen, () -> { });
    }

    /**
     * As {@link #arm(Freezer, Duration)}; {@code onFired} runs (on a JDK thread) as soon as the
     * guard has thawed the group by itself, never after a {@link #cancel}: a thaw that no safe
     * signal ordered, which the agent must turn into an abort of the operation it guarded.
     */
    public static FreezeGuard arm(Freezer freezer, Duration maxFrozen, Runnable onFired) throws IOException {
        if (maxFrozen.isNegative() || maxFrozen.isZero()) {
            throw new IllegalArgumentException("max frozen time must be positive, not " + maxFrozen);
        }
        Path setsid = SETSID.stream().filter(Files::isExecutable).findFirst()
                .orElseThrow(() -> new IOException("cannot arm freeze guard: no setsid in " + SETSID));
        // Taken before the start: the guard's sleep begins later, so it fires no earlier than this.
        Instant firesAt = Instant.now().plus(maxFrozen);
        long millis = maxFrozen.toMillis();
        String script = String.format(Locale.ROOT, "sleep %d.%03d; %s; exit 0", millis / 1000, millis % 1000,
                freezer.thawScript());
        Process process = new ProcessBuilder(setsid.toString(), "/bin/sh", "-c", script)
                .redirectInput(new File("/dev/null"))
                .redirectOutput(ProcessBuilder.Redirect.DISCARD)
                .redirectError(ProcessBuilder.Redirect.DISCARD)
                .start();
        // Until setsid has run, the guard has no process group of its own and a cancel's
        // kill(-pid) would miss it: return only once it leads its session (or has exited).
        int pid = (int) process.pid();
        if (!BoundedWait.until(() -> ProcFs.stat(pid).map(stat -> stat.session() == pid || stat.dead()).orElse(true),
                SESSION_TIMEOUT)) {
            process.destroyForcibly();
            throw new IOException("freeze guard pid " + pid + " did not start its own session within " + SESSION_TIMEOUT);
        }
        FreezeGuard guard = new FreezeGuard(process, maxFrozen, firesAt);
        process.onExit().thenRun(() -> {
            // Exit 0: the script ran to its end, the thaw included.
            if (!guard.cancelling && process.exitValue() == 0 && guard.state.compareAndSet(State.ARMED, State.FIRED)) {
                onFired.run();
            }
        });
        return guard;
    }

    /**
     * Stops the guards a previous agent process armed for this freezer's group and left behind
     * when it died: one of them would otherwise thaw a later checkpoint's freeze in the middle of
     * its frozen window. A guard is recognised by its command line (a session-leading shell that
     * sleeps, then runs exactly this freezer's thaw script). Call it before this agent arms any.
     *
     * @return the pids of the guards stopped
     */
    public static List<Integer> cancelOrphans(Freezer freezer) throws IOException {
        Pattern guard = Pattern.compile("sleep [0-9]+\\.[0-9]{3}; " + Pattern.quote(freezer.thawScript()) + "; exit 0");
        List<Integer> stopped = new ArrayList<>();
        for (int pid : ProcFs.numericEntries(Path.of("/proc"))) {
            List<String> argv = commandLine(pid);
            if (argv.size() == 3 && argv.get(0).equals("/bin/sh") && argv.get(1).equals("-c")
                    && guard.matcher(argv.get(2)).matches()
                    && ProcFs.stat(pid).map(stat -> stat.session() == pid && !stat.dead()).orElse(false)) {
                Set<Integer> children = ProcFs.children(pid);
                Native.kill(-pid, SIGKILL);
                if (!BoundedWait.until(() -> ProcFs.stat(pid).map(stat -> stat.dead()).orElse(true)
                        && children.stream().allMatch(child -> isGoneFromSession(child, pid)), REAP_TIMEOUT)) {
                    throw new IOException("orphaned freeze guard pid " + pid + " did not exit after SIGKILL within "
                            + REAP_TIMEOUT);
                }
                stopped.add(pid);
            }
        }
        return stopped;
    }

    private static boolean isGoneFromSession(int pid, int session) {
        try {
            return ProcFs.stat(pid).map(stat -> stat.session() != session || stat.dead()).orElse(true);
        } catch (IOException vanished) {
            return true;
        }
    }

    private static List<String> commandLine(int pid) {
        byte[] raw;
        try {
            raw = Files.readAllBytes(Path.of("/proc", Integer.toString(pid), "cmdline"));
        } catch (IOException exitedOrForbidden) {
            return List.of();
        }
        List<String> argv = new ArrayList<>();
        int start = 0;
        for (int i = 0; i < raw.length; i++) {
            if (raw[i] == 0) {
                argv.add(new String(raw, start, i - start, StandardCharsets.UTF_8));
                start = i + 1;
            }
        }
        return argv;
    }

    /** The guard shell's pid, which is also its session and process group id. */
    public long pid() {
        return process.pid();
    }

    public Duration maxFrozen() {
        return maxFrozen;
    }

    @Override
    public Instant firesAt() {
        return firesAt;
    }

    @Override
    public boolean isArmed() {
        return state.get() == State.ARMED && process.isAlive();
    }

    /** Stops the guard (its shell and its sleep) and reaps it; see {@link ArmedGuard#cancel}. */
    @Override
    public boolean cancel() throws IOException {
        if (state.get() == State.ARMED) {
            // Its other processes (the sleep), named before the kill: afterwards they are orphans,
            // and finding them again takes a read of every process on the host (at many groups per
            // host, that scan per cancel was the largest cost around a thaw). A child forked after
            // this read is in the process group and dies by the same signal.
            Set<Integer> children = ProcFs.children((int) process.pid());
            cancelling = true;
            // The whole process group: killing only the shell would leave its sleep behind.
            Native.kill((int) -process.pid(), SIGKILL);
            boolean exited;
            try {
                exited = process.waitFor(REAP_TIMEOUT.toMillis(), TimeUnit.MILLISECONDS);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                throw new IOException("interrupted while reaping freeze guard pid " + process.pid(), e);
            }
            // The shell is reaped; its sleep, killed by the same signal, may still be on its way out.
            if (!exited || !BoundedWait.until(() -> sessionGone(children), REAP_TIMEOUT)) {
                throw new IOException("freeze guard pid " + process.pid() + " (session) did not exit after SIGKILL within " + REAP_TIMEOUT);
            }
            // Exit 0 means the script ran to its end before the kill arrived.
            state.compareAndSet(State.ARMED, process.exitValue() == 0 ? State.FIRED : State.CANCELLED);
        }
        return state.get() == State.CANCELLED;
    }

    /** None of the shell's children is a live (non-zombie) process of the guard's session, which setsid made its own. */
    private boolean sessionGone(Set<Integer> children) throws IOException {
        for (int pid : children) {
            var stat = ProcFs.stat(pid);
            if (stat.isPresent() && stat.get().session() == process.pid() && !stat.get().dead()) {
                return false;
            }
        }
        return true;
    }

    @Override
    public void close() throws IOException {
        cancel();
    }

    @Override
    public String toString() {
        return "freeze guard pid " + process.pid() + " (" + state.get() + ", max frozen " + maxFrozen + ")";
    }
}
