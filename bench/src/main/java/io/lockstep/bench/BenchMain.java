package io.lockstep.bench;

import io.lockstep.bench.capture.CaptureScalingSuite;
import io.lockstep.bench.capture.CaptureSuite;
import io.lockstep.bench.checkpoint.BarrierSuite;
import io.lockstep.bench.checkpoint.CheckpointSuite;
import io.lockstep.bench.checkpoint.SeparateJvmCheckpointSuite;
import io.lockstep.bench.checkpoint.StoreSuite;
import io.lockstep.bench.report.BenchmarksRenderer;
import io.lockstep.bench.report.RunResults;
import io.lockstep.bench.restore.RestoreSuite;
import io.lockstep.bench.snapshot.SnapshotSuite;
import io.lockstep.bench.freeze.FreezeSuite;
import io.lockstep.bench.freeze.GuardSuite;
import io.lockstep.bench.parse.ParseSuite;
import io.lockstep.bench.harness.ResultTable;
import io.lockstep.bench.harness.ResultsFile;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.Collections;
import java.util.HashSet;
import java.util.List;
import java.util.Locale;
import java.util.Set;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.FutureTask;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;

/**
 * Runs the benchmark suites, reports every figure next to its floor (measured in the same run),
 * writes the results file and renders BENCHMARKS.md and its plot from it.
 * Usage: {@code BenchMain [--quick] [--out FILE] [--suite NAME]... [--merge] [--agents N,N...] [--page FILE]
 * [--plot FILE] [--render-only]}. {@code --merge} replaces only the figures of the suites run now in
 * an existing results file, keeps the others, and records which suites were merged and when. Needs root and cgroup v2 with cgroup.freeze (not for --render-only).
 */
public final class BenchMain {
    /** Every suite, in the order they run. */
    static final List<BenchSuite> SUITES = List.of(new FreezeSuite(), new GuardSuite(), new CaptureSuite(),
            new CaptureScalingSuite(), new ParseSuite(), new CheckpointSuite(), new SeparateJvmCheckpointSuite(), new BarrierSuite(),
            new StoreSuite(),
            new RestoreSuite(),
            new SnapshotSuite());
    /**
     * What bench/run.sh, the README and BENCHMARKS.md say a full run takes at most on 2 cores: every
     * suite's hard time budget plus {@link #BUILD_ALLOWANCE} (FullRunBudgetTest holds them to it).
     */
    public static final Duration FULL_RUN_AT_MOST = Duration.ofMinutes(31);
    /** The build bench/run.sh does before the suites (the bench module and what it needs, no tests). */
    static final Duration BUILD_ALLOWANCE = Duration.ofMinutes(1);
    /** A suite starts no case after this share of its budget: the case running then has the rest. */
    private static final double SOFT_SHARE = 0.8;
    private static final String USAGE = "usage: BenchMain [--quick] [--out FILE] [--suite NAME]... [--merge]"
            + " [--agents N,N...] [--page FILE] [--plot FILE] [--render-only]";

    /** What the command line asks for besides the run itself. */
    record Options(BenchConfig config, boolean renderOnly, boolean merge, Path page, Path plot) {
    }

    private BenchMain() {
    }

    public static void main(String[] args) throws Exception {
        Options options;
        try {
            options = parse(args);
        } catch (IllegalArgumentException e) {
            System.err.println(e.getMessage());
            System.exit(2);
            return;
        }
        if (options.renderOnly()) {
            render(options);
            return;
        }
        System.exit(runAll(options) ? 0 : 1);
    }

    private static boolean runAll(Options options) throws Exception {
        BenchConfig config = options.config();
        Instant started = Instant.now();
        List<Result> results = new ArrayList<>();
        List<String> failures = new ArrayList<>();
        List<ResultsFile.SuiteRun> suiteRuns = new ArrayList<>();
        for (BenchSuite suite : SUITES) {
            if (!config.selects(suite)) {
                continue;
            }
            long t = System.nanoTime();
            Duration budget = suite.budget();
            System.err.println("running suite " + suite.name() + (config.quick() ? " (quick)" : "") + ", budget "
                    + budget.toSeconds() + " s");
            BenchConfig suiteConfig = config.withDeadline(Instant.now().plusMillis((long) (budget.toMillis() * SOFT_SHARE)));
            List<Result> suiteResults = Collections.synchronizedList(new ArrayList<>());
            FutureTask<Void> running = new FutureTask<>(() -> {
                suite.run(suiteConfig, suiteResults);
                return null;
            });
            // A thread per suite: one stuck past its budget must neither block the next suites nor
            // keep the JVM alive (exiting runs the suites' clean-up hooks).
            Thread thread = new Thread(running, "bench-" + suite.name());
            thread.setDaemon(true);
            thread.start();
            try {
                running.get(budget.toMillis(), TimeUnit.MILLISECONDS);
            } catch (TimeoutException e) {
                running.cancel(true);
                failures.add(suite.name() + ": stopped at its hard time budget of " + budget.toSeconds()
                        + " s; the figures it had are kept");
            } catch (ExecutionException e) {
                // one broken suite must not hide the figures of the others
                e.getCause().printStackTrace();
                failures.add(suite.name() + ": " + e.getCause());
            }
            synchronized (suiteResults) {
                for (Result r : suiteResults) {
                    results.add(r);
                    if (r.failed()) {
                        failures.add(suite.name() + " " + r.caseName() + ": " + r.notes());
                    }
                }
            }
            double seconds = (System.nanoTime() - t) / 1e9;
            suiteRuns.add(new ResultsFile.SuiteRun(suite.name(), seconds, budget.toSeconds()));
            System.err.printf("suite %s took %.1f s%n", suite.name(), seconds);
        }
        ResultTable.print(System.out, results);
        double total = Duration.between(started, Instant.now()).toMillis() / 1e3;
        if (options.merge() && Files.exists(config.out())) {
            merge(config.out(), started, total, suiteRuns, results, failures);
        } else {
            ResultsFile.write(config.out(), config, started, total, suiteRuns, results, failures);
        }
        System.out.println("results: " + config.out() + " (" + Math.round(total) + " s"
                + (failures.isEmpty() ? "" : ", FAILED: " + failures) + ")");
        render(options);
        return failures.isEmpty();
    }

    /** Writes {@code out} again with the figures of the suites just run in place of its own for them. */
    private static void merge(Path out, Instant started, double seconds, List<ResultsFile.SuiteRun> ran,
                              List<Result> results, List<String> failures) throws Exception {
        RunResults base = RunResults.read(out);
        Set<String> names = new HashSet<>();
        ran.forEach(s -> names.add(s.name()));
        List<ResultsFile.SuiteRun> suites = new ArrayList<>();
        for (BenchSuite suite : SUITES) {
            base.suites().stream().filter(s -> s.name().equals(suite.name()) && !names.contains(s.name())).forEach(suites::add);
            ran.stream().filter(s -> s.name().equals(suite.name())).forEach(suites::add);
        }
        List<Result> allResults = new ArrayList<>(base.results().stream().filter(r -> !names.contains(r.suite())).toList());
        allResults.addAll(results);
        List<String> allFailures = new ArrayList<>(base.failures().stream()
                .filter(f -> names.stream().noneMatch(n -> f.startsWith(n + ":") || f.startsWith(n + " "))).toList());
        allFailures.addAll(failures);
        List<String> merged = new ArrayList<>(base.merged().stream()
                .filter(m -> names.stream().noneMatch(n -> m.startsWith(n + ":"))).toList());
        ResultsFile.Host here = ResultsFile.Host.thisOne();
        for (ResultsFile.SuiteRun suite : ran) {
            merged.add(String.format(Locale.ROOT, "%s: measured %s (%.0f s, Linux %s) by `bench/run.sh --suite %s --merge`",
                    suite.name(), started, suite.seconds(), here.kernel(), suite.name()));
        }
        ResultsFile.write(out, base.quick(), base.started(), base.seconds(), base.machine(), suites, allResults,
                allFailures, merged);
    }

    private static void render(Options options) throws Exception {
        BenchmarksRenderer.render(options.config().out(), options.page(), options.plot());
        System.out.println("rendered " + options.page() + " and " + options.plot() + " from " + options.config().out());
    }

    static Options parse(String[] args) {
        boolean quick = false;
        boolean renderOnly = false;
        boolean merge = false;
        Path out = Path.of("bench", "results", "latest.json");
        Path page = Path.of("BENCHMARKS.md");
        Path plot = Path.of("bench", "results", "scaling.png");
        Set<String> suites = new HashSet<>();
        List<Integer> agents = new ArrayList<>();
        for (int i = 0; i < args.length; i++) {
            switch (args[i]) {
                case "--quick" -> quick = true;
                case "--render-only" -> renderOnly = true;
                case "--merge" -> merge = true;
                case "--out" -> out = Path.of(value(args, ++i, "--out"));
                case "--page" -> page = Path.of(value(args, ++i, "--page"));
                case "--plot" -> plot = Path.of(value(args, ++i, "--plot"));
                case "--suite" -> suites.add(value(args, ++i, "--suite"));
                case "--agents" -> {
                    for (String n : value(args, ++i, "--agents").split(",")) {
                        try {
                            agents.add(Integer.parseInt(n.trim()));
                        } catch (NumberFormatException e) {
                            throw usage("--agents takes agent counts like 1,4,16, not '" + n + "'");
                        }
                    }
                }
                default -> throw usage("unknown argument " + args[i]);
            }
        }
        Set<String> known = new HashSet<>();
        SUITES.forEach(s -> known.add(s.name()));
        if (!known.containsAll(suites)) {
            throw usage("unknown suite in " + suites + "; known: " + known);
        }
        return new Options(new BenchConfig(quick, out, suites, agents, Instant.MAX), renderOnly, merge, page, plot);
    }

    private static String value(String[] args, int i, String option) {
        if (i >= args.length) {
            throw usage(option + " needs a value");
        }
        return args[i];
    }

    private static IllegalArgumentException usage(String problem) {
        return new IllegalArgumentException(problem + "\n" + USAGE);
    }
}
