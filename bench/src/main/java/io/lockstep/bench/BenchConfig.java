package io.lockstep.bench;

import java.nio.file.Path;
import java.util.Set;

/**
 * How a run is done.
 *
 * @param quick fewer samples and shorter phases: the whole run within a minute
 * @param out where the machine-readable results go
 * @param suites the suites to run; empty means all
 */
public record BenchConfig(boolean quick, Path out, Set<String> suites) {

    public BenchConfig {
        suites = Set.copyOf(suites);
    }

    /** Measured samples per figure. */
    public int runs(int full, int quickRuns) {
        return quick ? quickRuns : full;
    }

    public boolean selects(BenchSuite suite) {
        return suites.isEmpty() || suites.contains(suite.name());
    }
}
