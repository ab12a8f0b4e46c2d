package io.lockstep.bench;

import io.lockstep.bench.capture.CaptureSuite;
import io.lockstep.bench.checkpoint.CheckpointSuite;
import io.lockstep.bench.restore.RestoreSuite;
import io.lockstep.bench.freeze.FreezeSuite;
import io.lockstep.bench.parse.ParseSuite;
import io.lockstep.bench.harness.ResultTable;
import io.lockstep.bench.harness.ResultsFile;
import java.nio.file.Path;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Set;

/**
 * Runs the benchmark suites and reports every figure next to its floor, measured in the same run.
 * Usage: {@code BenchMain [--quick] [--out FILE] [--suite NAME]...} (default out:
 * bench/results/latest.json). Needs root and cgroup v2 with cgroup.freeze.
 */
public final class BenchMain {
    /** Every suite, in the order they run. */
    static final List<BenchSuite> SUITES = List.of(new FreezeSuite(), new CaptureSuite(), new ParseSuite(),
            new CheckpointSuite(), new RestoreSuite());

    private BenchMain() {
    }

    public static void main(String[] args) throws Exception {
        BenchConfig config = parse(args);
        Instant started = Instant.now();
        List<Result> results = new ArrayList<>();
        List<String> failures = new ArrayList<>();
        for (BenchSuite suite : SUITES) {
            if (!config.selects(suite)) {
                continue;
            }
            long t = System.nanoTime();
            System.err.println("running suite " + suite.name() + (config.quick() ? " (quick)" : ""));
            try {
                for (Result r : suite.run(config)) {
                    results.add(r);
                    if (r.failed()) {
                        failures.add(suite.name() + " " + r.caseName() + ": " + r.notes());
                    }
                }
            } catch (Exception e) {
                // one broken suite must not hide the figures of the others
                e.printStackTrace();
                failures.add(suite.name() + ": " + e);
            }
            System.err.printf("suite %s took %.1f s%n", suite.name(), (System.nanoTime() - t) / 1e9);
        }
        ResultTable.print(System.out, results);
        ResultsFile.write(config.out(), config, started, results, failures);
        System.out.println("results: " + config.out() + " (" + Duration.between(started, Instant.now()).toSeconds()
                + " s" + (failures.isEmpty() ? "" : ", FAILED: " + failures) + ")");
        System.exit(failures.isEmpty() ? 0 : 1);
    }

    static BenchConfig parse(String[] args) {
        boolean quick = false;
        Path out = Path.of("bench", "results", "latest.json");
        Set<String> suites = new HashSet<>();
        for (int i = 0; i < args.length; i++) {
            switch (args[i]) {
                case "--quick" -> quick = true;
                case "--out" -> out = Path.of(value(args, ++i, "--out"));
                case "--suite" -> suites.add(value(args, ++i, "--suite"));
                default -> throw usage("unknown argument " + args[i]);
            }
        }
        Set<String> known = new HashSet<>();
        SUITES.forEach(s -> known.add(s.name()));
        if (!known.containsAll(suites)) {
            throw usage("unknown suite in " + suites + "; known: " + known);
        }
        return new BenchConfig(quick, out, suites);
    }

    private static String value(String[] args, int i, String option) {
        if (i >= args.length) {
            throw usage(option + " needs a value");
        }
        return args[i];
    }

    private static IllegalArgumentException usage(String problem) {
        return new IllegalArgumentException(problem + "\nusage: BenchMain [--quick] [--out FILE] [--suite NAME]...");
    }
}
