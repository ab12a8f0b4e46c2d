package io.lockstep.bench.capture;

import io.lockstep.agent.capture.CaptureScope;
import io.lockstep.agent.capture.CaptureStats;
import io.lockstep.agent.capture.GroupCapturer;
import io.lockstep.agent.cgroup.FreezeGuard;
import io.lockstep.agent.cgroup.GroupCgroup;
import io.lockstep.bench.BenchConfig;
import io.lockstep.bench.BenchSuite;
import io.lockstep.bench.Result;
import io.lockstep.bench.harness.BenchCgroups;
import io.lockstep.bench.harness.Samples;
import io.lockstep.proto.Manifest;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.stream.Stream;

/**
 * {@link GroupCapturer#capture} of a frozen group holding 1k, 10k and 50k POSIX locks, spread over
 * 1000 files or all on one, against {@link CaptureFloor} on the same frozen processes. Capture and
 * floor alternate, so that drift (other load on the machine) hits both alike.
 */
public final class CaptureSuite implements BenchSuite {
    private static final int PROCESSES = 3;
    private static final int OFD_LOCKS_PER_PROCESS = 10;
    private static final int[] LOCK_COUNTS = {1_000, 10_000, 50_000};
    private static final int[] FILE_COUNTS = {1_000, 1};
    /**
     * Above this many locks on one file, setting the case up takes longer than a quick run may
     * (the kernel's conflict scan makes taking them O(n²), see {@link LockingChild}).
     */
    private static final int QUICK_MAX_LOCKS_PER_FILE = 10_000;
    private static final Duration READY_TIMEOUT = Duration.ofMinutes(3);
    private static final int MIN_RUNS = 5;
    /** A case whose first capture takes longer gets the fewest runs: the full run must stay within 4 minutes. */
    private static final long SLOW_CAPTURE_NANOS = 1_000_000_000L;
    private static final List<String> CHILD_JVM = List.of("-Xmx64m", "-XX:TieredStopAtLevel=1", "-XX:+UseSerialGC");
    private static final Duration MAX_FROZEN = Duration.ofMinutes(2);

    @Override
    public String name() {
        return "capture";
    }

    @Override
    public Duration budget() {
        return Duration.ofMinutes(3);
    }

    @Override
    public void run(BenchConfig config, List<Result> results) throws Exception {
        Path dir = Files.createTempDirectory("lockstep-bench-capture");
        try (BenchCgroups cgroups = BenchCgroups.open()) {
            for (LockLayout layout : layouts(config)) {
                if (!config.fits(Duration.ZERO)) {
                    results.add(Result.failure(name(), layout.caseName(),
                            new IllegalStateException("skipped: the suite's time budget is spent")));
                    continue;
                }
                long t = System.nanoTime();
                try {
                    results.addAll(measure(config, cgroups, layout, Files.createDirectory(dir.resolve(layout.caseName()))));
                } catch (Exception e) {
                    // e.g. a set-up slower than its timeout on a loaded host: the other cases still count
                    results.add(Result.failure(name(), layout.caseName(), e));
                }
                System.err.printf("  %s: %.1f s%n", layout.caseName(), (System.nanoTime() - t) / 1e9);
            }
        } finally {
            deleteTree(dir);
        }
    }

    private static List<LockLayout> layouts(BenchConfig config) {
        List<LockLayout> layouts = new ArrayList<>();
        for (int files : FILE_COUNTS) {
            for (int locks : LOCK_COUNTS) {
                if (!config.quick() || locks / files <= QUICK_MAX_LOCKS_PER_FILE) {
                    layouts.add(new LockLayout(locks, files, PROCESSES, OFD_LOCKS_PER_PROCESS));
                }
            }
        }
        return layouts;
    }

    private List<Result> measure(BenchConfig config, BenchCgroups cgroups, LockLayout layout, Path files)
            throws Exception {
        GroupCgroup group = cgroups.newGroup(layout.caseName());
        try {
            startHolders(cgroups, group, layout, files);
            List<Integer> pids = List.copyOf(group.pids());
            CaptureScope scope = new CaptureScope("bench", "bench-host", "bench-op", 1, "cgroup-v2", false,
                    pids, Map.of());
            try (FreezeGuard guard = FreezeGuard.arm(group.freezer(), MAX_FROZEN)) {
                group.freezer().freeze(Instant.now().plusSeconds(10));
                try {
                    return timeFrozen(config, layout, scope, pids);
                } finally {
                    group.freezer().thaw();
                }
            }
        } finally {
            cgroups.dispose(group);
        }
    }

    private static void startHolders(BenchCgroups cgroups, GroupCgroup group, LockLayout layout, Path files)
            throws Exception {
        List<CompletableFuture<Void>> started = new ArrayList<>();
        for (int i = 0; i < layout.processes(); i++) {
            List<String> args = List.of(files.toString(), Integer.toString(layout.files()), Integer.toString(i),
                    Integer.toString(layout.processes()), Integer.toString(layout.posixLocksOf(i)),
                    Integer.toString(layout.ofdLocksPerProcess()));
            started.add(CompletableFuture.runAsync(() -> {
                try {
                    cgroups.start(group, LockingChild.class, CHILD_JVM, args, READY_TIMEOUT);
                } catch (IOException e) {
                    throw new IllegalStateException(e);
                }
            }));
        }
        CompletableFuture.allOf(started.toArray(CompletableFuture[]::new)).join();
    }

    private List<Result> timeFrozen(BenchConfig config, LockLayout layout, CaptureScope scope, List<Integer> pids)
            throws Exception {
        GroupCapturer capturer = new GroupCapturer();
        CaptureFloor floor = new CaptureFloor();
        long firstStart = System.nanoTime();
        Manifest manifest = capturer.capture(scope);
        boolean slow = System.nanoTime() - firstStart > SLOW_CAPTURE_NANOS;
        CaptureStats stats = CaptureStats.of(manifest);
        if (stats.heldLocks() != layout.heldLocks()) {
            throw new IllegalStateException(layout.caseName() + ": capture found " + stats.heldLocks()
                    + " held locks, the children hold " + layout.heldLocks());
        }
        int warmUp = slow ? 1 : config.runs(3, 1);
        int runs = slow ? MIN_RUNS : config.runs(9, MIN_RUNS);
        long[] captureNanos = new long[runs];
        long[] floorNanos = new long[runs];
        long floorBytes = 0;
        for (int i = -warmUp; i < runs; i++) {
            // alternate which goes first, so neither always runs on a cache the other warmed
            boolean floorFirst = (i & 1) == 0;
            long f = 0;
            long c;
            if (floorFirst) {
                long t = System.nanoTime();
                floorBytes = floor.readAll(pids);
                f = System.nanoTime() - t;
            }
            long t = System.nanoTime();
            capturer.capture(scope);
            c = System.nanoTime() - t;
            if (!floorFirst) {
                long t2 = System.nanoTime();
                floorBytes = floor.readAll(pids);
                f = System.nanoTime() - t2;
            }
            if (i >= 0) {
                captureNanos[i] = c;
                floorNanos[i] = f;
            }
        }
        Samples capture = new Samples(captureNanos);
        Samples floorSamples = new Samples(floorNanos);
        String notes = runs + " runs after " + warmUp + " warm-up, frozen; " + layout.processes() + " processes, "
                + stats.heldLocks() + " held locks, " + stats.fds() + " fds; floor reads /proc/locks + every fdinfo ("
                + floorBytes / 1024 + " KiB)";
        return List.of(
                Result.of(name(), layout.caseName(), "capture-median", capture.medianMillis(), "ms",
                        floorSamples.medianMillis(), notes),
                Result.of(name(), layout.caseName(), "capture-p90", capture.p90Millis(), "ms",
                        floorSamples.p90Millis(), notes));
    }

    private static void deleteTree(Path dir) throws IOException {
        try (Stream<Path> paths = Files.walk(dir)) {
            for (Path p : paths.sorted(Comparator.reverseOrder()).toList()) {
                Files.deleteIfExists(p);
            }
        }
    }
}
