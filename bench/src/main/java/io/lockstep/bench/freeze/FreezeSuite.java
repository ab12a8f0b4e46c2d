package io.lockstep.bench.freeze;

import io.lockstep.agent.cgroup.FreezeGuard;
import io.lockstep.agent.cgroup.Freezer;
import io.lockstep.agent.cgroup.GroupCgroup;
import io.lockstep.bench.BenchConfig;
import io.lockstep.bench.BenchSuite;
import io.lockstep.bench.Result;
import io.lockstep.bench.harness.BenchCgroups;
import io.lockstep.bench.harness.Samples;
import java.time.Duration;
import java.time.Instant;
import java.util.List;
import java.util.concurrent.locks.LockSupport;

/**
 * Freeze latency — from the request to the kernel reporting the group frozen, as the caller of
 * {@link Freezer#freeze} sees it — for one process with 10, 100 and 1000 extra threads, against
 * {@link RawFreeze} on the same group. The two alternate freeze by freeze, so drift hits both alike.
 */
public final class FreezeSuite implements BenchSuite {
    private static final int[] THREAD_COUNTS = {10, 100, 1_000};
    private static final List<String> CHILD_JVM = List.of("-Xmx32m", "-Xss256k", "-XX:TieredStopAtLevel=1",
            "-XX:+UseSerialGC");
    private static final Duration MAX_FROZEN = Duration.ofMinutes(2);
    /** Lets thawed threads go back to sleep before the next freeze, as between real checkpoints. */
    private static final long SETTLE_NANOS = 3_000_000;

    @Override
    public String name() {
        return "freeze";
    }

    @Override
    public Duration budget() {
        return Duration.ofSeconds(45);
    }

    @Override
    public void run(BenchConfig config, List<Result> results) throws Exception {
        try (BenchCgroups cgroups = BenchCgroups.open()) {
            for (int threads : THREAD_COUNTS) {
                GroupCgroup group = cgroups.newGroup("freeze-" + threads);
                try {
                    cgroups.start(group, IdleThreadsChild.class, CHILD_JVM, List.of(Integer.toString(threads)),
                            Duration.ofSeconds(60));
                    results.addAll(measure(config, group, threads));
                } finally {
                    cgroups.dispose(group);
                }
            }
        }
    }

    private List<Result> measure(BenchConfig config, GroupCgroup group, int threads) throws Exception {
        Freezer freezer = group.freezer();
        int warmUp = config.runs(10, 5);
        int runs = config.runs(61, 21);
        long[] freezeNanos = new long[runs];
        long[] floorNanos = new long[runs];
        int tasks = group.tids().size();
        // one guard for the whole case: a dying bench cannot leave the group frozen
        try (FreezeGuard guard = FreezeGuard.arm(freezer, MAX_FROZEN);
             RawFreeze raw = new RawFreeze(group.path().orElseThrow())) {
            for (int i = -warmUp; i < runs; i++) {
                boolean floorFirst = (i & 1) == 0;
                long f = 0;
                if (floorFirst) {
                    f = timeRaw(raw);
                }
                long t = System.nanoTime();
                freezer.freeze(Instant.now().plusSeconds(10));
                long c = System.nanoTime() - t;
                raw.thaw();
                LockSupport.parkNanos(SETTLE_NANOS);
                if (!floorFirst) {
                    f = timeRaw(raw);
                }
                if (i >= 0) {
                    freezeNanos[i] = c;
                    floorNanos[i] = f;
                }
            }
        }
        Samples freeze = new Samples(freezeNanos);
        Samples floor = new Samples(floorNanos);
        String caseName = threads + "-threads";
        String notes = runs + " freezes after " + warmUp + " warm-up, " + tasks + " tasks in the group (JVM threads"
                + " included); floor: write cgroup.freeze + busy re-read of cgroup.events on open fds";
        return List.of(
                Result.of(name(), caseName, "freeze-median", freeze.medianMillis(), "ms", floor.medianMillis(), notes),
                Result.of(name(), caseName, "freeze-p90", freeze.p90Millis(), "ms", floor.p90Millis(), notes));
    }

    private static long timeRaw(RawFreeze raw) throws Exception {
        long t = System.nanoTime();
        raw.freeze();
        long f = System.nanoTime() - t;
        raw.thaw();
        LockSupport.parkNanos(SETTLE_NANOS);
        return f;
    }
}
