package io.lockstep.bench.capture;

import io.lockstep.agent.capture.CaptureScope;
import io.lockstep.agent.capture.GroupCapturer;
import io.lockstep.agent.cgroup.FreezeGuard;
import io.lockstep.agent.cgroup.Freezer;
import io.lockstep.agent.cgroup.GroupCgroup;
import io.lockstep.bench.BenchConfig;
import io.lockstep.bench.BenchSuite;
import io.lockstep.bench.Result;
import io.lockstep.bench.freeze.IdleThreadsChild;
import io.lockstep.bench.freeze.RawFreeze;
import io.lockstep.bench.harness.BenchCgroups;
import io.lockstep.bench.harness.Samples;
import io.lockstep.proto.Manifest;
import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStreamReader;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;

/**
 * {@link GroupCapturer#capture} as the group grows: a bash parent with 10, 200 and 1000 {@code sleep}
 * children, and one JVM with 2000 idle threads, against {@link ProcessReadFloor} on the same frozen
 * processes, alternating. Then the frozen window (the agent's freezer, capture, thaw) against the
 * raw freeze + floor + raw thaw, alternating too.
 */
public final class CaptureScalingSuite implements BenchSuite {
    private static final int[] PROCESS_COUNTS = {10, 200, 1000};
    private static final int THREADS = 2000;
    /** From this many processes on, a case gets the fewest runs: setting it up alone is slow. */
    private static final int LARGE = 1000;
    private static final Duration READY_TIMEOUT = Duration.ofMinutes(2);
    private static final Duration MAX_FROZEN = Duration.ofMinutes(2);
    private static final Duration KILL_TIMEOUT = Duration.ofSeconds(10);
    private static final List<String> THREADS_CHILD_JVM = List.of("-Xmx64m", "-Xss256k", "-XX:TieredStopAtLevel=1",
            "-XX:+UseSerialGC");

    /** One case: what runs in the group, and what to call it. */
    private record Workload(String caseName, int processes, int threads) {
    }

    @Override
    public String name() {
        return "capture-scaling";
    }

    @Override
    public Duration budget() {
        return Duration.ofMinutes(3);
    }

    @Override
    public void run(BenchConfig config, List<Result> results) throws Exception {
        List<Workload> workloads = new ArrayList<>();
        for (int n : PROCESS_COUNTS) {
            // a quick run leaves out the 1000 processes: forking them alone takes long on a busy host
            if (!config.quick() || n < LARGE) {
                workloads.add(new Workload("processes-" + n, n, 1));
            }
        }
        workloads.add(new Workload("threads-" + THREADS, 1, THREADS));
        try (BenchCgroups cgroups = BenchCgroups.open()) {
            for (Workload w : workloads) {
                if (!config.fits(Duration.ZERO)) {
                    results.add(Result.failure(name(), w.caseName(),
                            new IllegalStateException("skipped: the suite's time budget is spent")));
                    continue;
                }
                long t = System.nanoTime();
                try {
                    measure(config, cgroups, w, results);
                } catch (Exception e) {
                    results.add(Result.failure(name(), w.caseName(), e));
                }
                System.err.printf("  %s: %.1f s%n", w.caseName(), (System.nanoTime() - t) / 1e9);
            }
        }
    }

    private void measure(BenchConfig config, BenchCgroups cgroups, Workload w, List<Result> results)
            throws Exception {
        GroupCgroup group = cgroups.newGroup(w.caseName());
        Process sleepers = null;
        try {
            if (w.threads() > 1) {
                cgroups.start(group, IdleThreadsChild.class, THREADS_CHILD_JVM, List.of(Integer.toString(w.threads())),
                        READY_TIMEOUT);
            } else {
                sleepers = startSleepers(group, w.processes());
            }
            List<Integer> pids = List.copyOf(group.pids());
            CaptureScope scope = new CaptureScope("bench", "bench-host", "bench-op", 1, "cgroup-v2", false,
                    pids, Map.of());
            boolean large = w.processes() >= LARGE;
            // The agent is a long-running daemon: its capture path is judged compiled (JMH's practice of
            // warm-up iterations). With 3, and still with 9, warm-up runs the 200-process capture median was
            // about twice the frozen window measured right after it, which contains a capture: not yet compiled.
            int warmUp = large ? 1 : config.runs(30, 1);
            int runs = large ? 3 : config.runs(9, 5);
            String sizes = pids.size() + " processes, " + group.tids().size() + " threads";
            try (FreezeGuard guard = FreezeGuard.arm(group.freezer(), MAX_FROZEN)) {
                timeCapture(w, group.freezer(), scope, pids, warmUp, runs, sizes, results);
            }
            try (FreezeGuard guard = FreezeGuard.arm(group.freezer(), MAX_FROZEN);
                 RawFreeze raw = new RawFreeze(group.path().orElseThrow())) {
                timeFrozenWindow(w, group.freezer(), raw, scope, pids, warmUp, runs, sizes, results);
            }
        } finally {
            if (sleepers != null) {
                // our child: it leaves the cgroup only once reaped
                group.killAll(KILL_TIMEOUT);
                sleepers.waitFor(KILL_TIMEOUT.toMillis(), TimeUnit.MILLISECONDS);
            }
            cgroups.dispose(group);
        }
    }

    /** A bash inside the group that forks {@code children} sleeps, then says READY. */
    private static Process startSleepers(GroupCgroup group, int children) throws IOException, InterruptedException {
        List<String> command = new ArrayList<>(group.entryCommand());
        command.addAll(List.of("bash", "-c", "for ((i = 0; i < " + children + "; i++)); do sleep 100000 & done;"
                + " echo READY; read -r _"));
        Process bash = new ProcessBuilder(command).redirectErrorStream(true).start();
        BufferedReader out = new BufferedReader(new InputStreamReader(bash.getInputStream(), StandardCharsets.UTF_8));
        String line = out.readLine();
        if (!"READY".equals(line)) {
            throw new IOException("sleeper parent " + bash.pid() + " did not say READY: " + line);
        }
        int expected = children + 1;
        long deadline = System.nanoTime() + READY_TIMEOUT.toNanos();
        // the sleeps are forked, but each must have exec'd sleep before the group shows its final shape
        while (group.pids().size() < expected || !allExecd(group)) {
            if (System.nanoTime() > deadline) {
                throw new IOException("group " + group.name() + " has " + group.pids().size() + " of " + expected
                        + " processes running sleep after " + READY_TIMEOUT);
            }
            Thread.onSpinWait();
        }
        return bash;
    }

    private static boolean allExecd(GroupCgroup group) throws IOException {
        int bashes = 0;
        for (int pid : group.pids()) {
            try {
                if (Files.readString(Path.of("/proc", Integer.toString(pid), "comm"))
                        .strip().equals("bash")) {
                    bashes++;
                }
            } catch (IOException e) {
                return false;
            }
        }
        return bashes == 1;
    }

    private void timeCapture(Workload w, Freezer freezer, CaptureScope scope, List<Integer> pids, int warmUp,
                             int runs, String sizes, List<Result> results) throws Exception {
        GroupCapturer capturer = new GroupCapturer();
        ProcessReadFloor floor = new ProcessReadFloor();
        long[] captureNanos = new long[runs];
        long[] floorNanos = new long[runs];
        freezer.freeze(Instant.now().plusSeconds(30));
        try {
            Manifest first = capturer.capture(scope);
            if (first.getProcessesCount() != pids.size()) {
                throw new IllegalStateException(w.caseName() + ": captured " + first.getProcessesCount()
                        + " processes of " + pids.size());
            }
            for (int i = -warmUp; i < runs; i++) {
                boolean floorFirst = (i & 1) == 0;
                long f = 0;
                if (floorFirst) {
                    long t = System.nanoTime();
                    floor.readAll(pids);
                    f = System.nanoTime() - t;
                }
                long t = System.nanoTime();
                capturer.capture(scope);
                long c = System.nanoTime() - t;
                if (!floorFirst) {
                    long t2 = System.nanoTime();
                    floor.readAll(pids);
                    f = System.nanoTime() - t2;
                }
                if (i >= 0) {
                    captureNanos[i] = c;
                    floorNanos[i] = f;
                }
            }
        } finally {
            freezer.thaw();
        }
        String notes = runs + " runs after " + warmUp + " warm-up, frozen; " + sizes + "; floor (Java, one pass):"
                + " /proc/locks, one mountinfo, per process status, comm, cmdline, cwd, fds (link, fdinfo, stat),"
                + " every thread's syscall";
        Samples capture = new Samples(captureNanos);
        Samples floorSamples = new Samples(floorNanos);
        results.add(Result.of(name(), w.caseName(), "capture-median", capture.medianMillis(), "ms",
                floorSamples.medianMillis(), notes));
        results.add(Result.of(name(), w.caseName(), "capture-p90", capture.p90Millis(), "ms",
                floorSamples.p90Millis(), notes));
    }

    private void timeFrozenWindow(Workload w, Freezer freezer, RawFreeze raw, CaptureScope scope, List<Integer> pids,
                                  int warmUp, int runs, String sizes, List<Result> results) throws Exception {
        GroupCapturer capturer = new GroupCapturer();
        ProcessReadFloor floor = new ProcessReadFloor();
        long[] windowNanos = new long[runs];
        long[] floorNanos = new long[runs];
        for (int i = -warmUp; i < runs; i++) {
            boolean floorFirst = (i & 1) == 0;
            long f = 0;
            if (floorFirst) {
                f = rawWindow(raw, floor, pids);
            }
            long t = System.nanoTime();
            freezer.freeze(Instant.now().plusSeconds(30));
            try {
                capturer.capture(scope);
            } finally {
                freezer.thaw();
            }
            long c = System.nanoTime() - t;
            if (!floorFirst) {
                f = rawWindow(raw, floor, pids);
            }
            if (i >= 0) {
                windowNanos[i] = c;
                floorNanos[i] = f;
            }
        }
        String notes = runs + " runs after " + warmUp + " warm-up; " + sizes + "; the agent's cgroup v2 freezer,"
                + " capture and thaw in the bench JVM (no RPC); floor: raw cgroup.freeze write and busy-read of"
                + " cgroup.events, the capture floor, raw thaw";
        Samples window = new Samples(windowNanos);
        Samples floorSamples = new Samples(floorNanos);
        results.add(Result.of(name(), w.caseName(), "frozen-window-median", window.medianMillis(), "ms",
                floorSamples.medianMillis(), notes));
    }

    private static long rawWindow(RawFreeze raw, ProcessReadFloor floor, List<Integer> pids) throws IOException {
        long t = System.nanoTime();
        raw.freeze();
        try {
            floor.readAll(pids);
        } finally {
            raw.thaw();
        }
        return System.nanoTime() - t;
    }
}
