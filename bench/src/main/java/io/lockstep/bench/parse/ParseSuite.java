package io.lockstep.bench.parse;

import io.lockstep.bench.BenchConfig;
import io.lockstep.bench.BenchSuite;
import io.lockstep.bench.Result;
import java.util.Collection;
import java.time.Duration;
import java.util.List;
import org.openjdk.jmh.results.RunResult;
import org.openjdk.jmh.runner.Runner;
import org.openjdk.jmh.runner.options.OptionsBuilder;
import org.openjdk.jmh.runner.options.TimeValue;
import org.openjdk.jmh.runner.options.VerboseMode;

/** {@link LockTableParseBenchmark} under JMH (one fork), reported as parse time against the line-visit floor. */
public final class ParseSuite implements BenchSuite {
    @Override
    public String name() {
        return "parse";
    }

    @Override
    public Duration budget() {
        return Duration.ofSeconds(30);
    }

    @Override
    public void run(BenchConfig config, List<Result> results) throws Exception {
        int measured = config.runs(5, 3);
        Collection<RunResult> runs = new Runner(new OptionsBuilder()
                .include(LockTableParseBenchmark.class.getName() + "\\.")
                .forks(1)
                .warmupIterations(2)
                .warmupTime(TimeValue.seconds(1))
                .measurementIterations(measured)
                .measurementTime(TimeValue.seconds(1))
                .verbosity(VerboseMode.SILENT)
                .build()).run();
        RunResult parse = find(runs, "parse");
        RunResult floor = find(runs, "visitLines");
        String notes = "JMH average time, 1 fork, " + measured + " x 1 s; parse +- "
                + String.format(java.util.Locale.ROOT, "%.3f", parse.getPrimaryResult().getScoreError())
                + " (99.9%); floor visits every line end";
        results.add(Result.of(name(), LockTableParseBenchmark.LINES / 1000 + "k-lines", "parse-mean",
                parse.getPrimaryResult().getScore(), parse.getPrimaryResult().getScoreUnit(),
                floor.getPrimaryResult().getScore(), notes));
    }

    private static RunResult find(Collection<RunResult> runs, String method) {
        return runs.stream().filter(r -> r.getParams().getBenchmark().endsWith("." + method)).findFirst()
                .orElseThrow(() -> new IllegalStateException("JMH ran no " + method));
    }
}
