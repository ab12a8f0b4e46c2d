package io.lockstep.bench;

import java.nio.file.Path;
import java.time.Duration;
import java.time.Instant;
import java.util.List;
import java.util.Set;

/**
 * How a run is done.
 *
 * @param quick fewer samples and shorter phases: the whole run within a few minutes
 * @param out where the machine-readable results go
 * @param suites the suites to run; empty means all
 * @param agentCounts the checkpoint suite's agent counts; empty means its defaults
 * @param deadline when the running suite's time budget ends: a suite starts no case it cannot
 *                 finish by then (its estimate), and {@link BenchMain} stops the run at it
 */
public record BenchConfig(boolean quick, Path out, Set<String> suites, List<Integer> agentCounts, Instant deadline) {

    public BenchConfig {
        suites = Set.copyOf(suites);
        agentCounts = List.copyOf(agentCounts);
    }

    /** Measured samples per figure. */
    public int runs(int full, int quickRuns) {
        return quick ? quickRuns : full;
    }

    public boolean selects(BenchSuite suite) {
        return suites.isEmpty() || suites.contains(suite.name());
    }

    public BenchConfig withDeadline(Instant suiteDeadline) {
        return new BenchConfig(quick, out, suites, agentCounts, suiteDeadline);
    }

    /** Whether work estimated to take {@code estimate} still fits in the suite's budget. */
    public boolean fits(Duration estimate) {
        return Instant.now().plus(estimate).isBefore(deadline);
    }
}
