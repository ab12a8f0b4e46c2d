package io.lockstep.bench.freeze;

import io.lockstep.agent.cgroup.ArmedGuard;
import io.lockstep.agent.cgroup.FreezeGuard;
import io.lockstep.agent.cgroup.GroupCgroup;
import io.lockstep.agent.cgroup.GuardDaemon;
import io.lockstep.agent.restore.StubBinary;
import io.lockstep.bench.BenchConfig;
import io.lockstep.bench.BenchSuite;
import io.lockstep.bench.Result;
import io.lockstep.bench.harness.BenchCgroups;
import io.lockstep.bench.harness.Samples;

import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;

/**
 * Arming a group's freeze guard, as a checkpoint does before each freeze: in the agent's
 * long-lived guard (one line over its socket) and, for comparison, as a process started per
 * freeze (the guard of earlier releases); floor = one round trip to the long-lived guard.
 */
public final class GuardSuite implements BenchSuite {
    private static final Duration MAX_FROZEN = Duration.ofMinutes(2);

    @Override
    public String name() {
        return "guard";
    }

    @Override
    public Duration budget() {
        return Duration.ofSeconds(40);
    }

    @Override
    public void run(BenchConfig config, List<Result> results) throws Exception {
        int runs = config.runs(201, 51);
        int processRuns = config.runs(21, 7);
        Path dir = Files.createTempDirectory("lockstep-bench-guard-");
        try (BenchCgroups cgroups = BenchCgroups.open()) {
            GroupCgroup group = cgroups.newGroup("guard");
            try (GuardDaemon guards = GuardDaemon.attach(StubBinary.program(GuardDaemon.class, GuardDaemon.NAME, dir),
                    dir.resolve("guard.sock"))) {
                long[] arm = new long[runs];
                long[] disarm = new long[runs];
                long[] floor = new long[runs];
                for (int i = -20; i < runs; i++) {
                    long t = System.nanoTime();
                    guards.ping();
                    long f = System.nanoTime() - t;
                    t = System.nanoTime();
                    ArmedGuard guard = guards.arm("bench/op-" + i, group.freezer(), MAX_FROZEN, () -> { });
                    long a = System.nanoTime() - t;
                    t = System.nanoTime();
                    if (!guard.cancel()) {
                        throw new IllegalStateException("the bench's guard fired");
                    }
                    long d = System.nanoTime() - t;
                    if (i >= 0) {
                        floor[i] = f;
                        arm[i] = a;
                        disarm[i] = d;
                    }
                }
                long[] process = new long[processRuns];
                for (int i = 0; i < processRuns; i++) {
                    long t = System.nanoTime();
                    try (FreezeGuard guard = FreezeGuard.arm(group.freezer(), MAX_FROZEN)) {
                        process[i] = System.nanoTime() - t;
                    }
                }
                Samples fl = new Samples(floor);
                String notes = runs + " arms after 20 warm-up; floor = a PING round trip to the same guard";
                results.add(Result.of(name(), "long-lived guard", "arm-median", new Samples(arm).medianMillis(), "ms",
                        fl.medianMillis(), notes));
                results.add(Result.of(name(), "long-lived guard", "disarm-median", new Samples(disarm).medianMillis(), "ms",
                        fl.medianMillis(), notes));
                results.add(Result.of(name(), "process per freeze", "arm-median", new Samples(process).medianMillis(), "ms",
                        fl.medianMillis(), processRuns + " arms: a setsid shell started per freeze (the guard of earlier "
                                + "releases), for comparison"));
            } finally {
                cgroups.dispose(group);
            }
        }
    }
}
