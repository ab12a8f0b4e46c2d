package io.lockstep.bench;

import java.util.List;

/** One family of measurements. Register it in {@link BenchMain#SUITES}; it cleans up after itself. */
public interface BenchSuite {
    String name();

    List<Result> run(BenchConfig config) throws Exception;
}
