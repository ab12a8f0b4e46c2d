package io.lockstep.bench;

import java.time.Duration;
import java.util.List;

/** One family of measurements. Register it in {@link BenchMain#SUITES}; it cleans up after itself. */
public interface BenchSuite {
    String name();

    /**
     * The most wall time the suite may take in a full run (a quick one takes less): the budgets
     * of all suites plus the build add up to at most {@link BenchMain#FULL_RUN_AT_MOST}.
     */
    Duration budget();

    /**
     * Measures, adding each figure to {@code results} as soon as it is known: a suite stopped at
     * its hard time budget keeps the figures it had.
     */
    void run(BenchConfig config, List<Result> results) throws Exception;
}
