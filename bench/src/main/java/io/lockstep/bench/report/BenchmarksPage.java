package io.lockstep.bench.report;

import io.lockstep.bench.Result;
import io.lockstep.bench.harness.ResultsFile;

import java.util.List;
import java.util.Locale;
import java.util.Optional;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * BENCHMARKS.md from one results file: how to run, the targets met and not met, a table per
 * suite with each figure's same-run floor and ratio, the scaling plot, the requests counted per
 * checkpoint, and a projection to 1000 hosts with its assumptions.
 */
final class BenchmarksPage {
    /** Hosts the projection is made for. */
    static final int PROJECTED_HOSTS = 1000;
    // Assumptions of the projection to separate hosts (not measured here; stated in the page).
    private static final double RTT_MS = 0.5;
    private static final double ENSEMBLE_WRITES_PER_S = 10_000;
    private static final double ENSEMBLE_READS_PER_S = 100_000;
    private static final double COORDINATOR_MS_PER_RPC = 0.05;
    private static final Pattern AGENTS = Pattern.compile("^(\\d+) agents$");

    private final RunResults run;
    private final String resultsName;
    private final String plotName;
    private final StringBuilder md = new StringBuilder();

    private BenchmarksPage(RunResults run, String resultsName, String plotName) {
        this.run = run;
        this.resultsName = resultsName;
        this.plotName = plotName;
    }

    /** The page; {@code resultsName} and {@code plotName} are paths relative to the page. */
    static String render(RunResults run, String resultsName, String plotName) {
        return new BenchmarksPage(run, resultsName, plotName).page();
    }

    private String page() {
        header();
        targets();
        freeze();
        capture();
        parse();
        checkpoint();
        projection();
        restore();
        return md.toString();
    }

    private void header() {
        line("# Benchmarks");
        line("");
        line("<!-- Rendered by bench/run.sh from " + resultsName + "; edit the renderer"
                + " (bench/src/main/java/io/lockstep/bench/report), not this file. -->");
        line("");
        line("One command runs every suite, writes the results as JSON and renders this page from them;"
                + " every figure stands next to a floor measured **in the same run**, and the ratio figure ÷ floor:");
        line("");
        line("```bash");
        line("bench/run.sh                    # full run, at most 15 minutes on 2 cores (each suite has a hard time budget)");
        line("bench/run.sh --quick            # a few minutes: fewer samples and sizes");
        line("bench/run.sh --suite checkpoint # one suite; suites: freeze, capture, parse, checkpoint, restore");
        line("bench/run.sh --render-only      # re-render this page from bench/results/latest.json");
        line("```");
        line("");
        line("Run as root on a machine with cgroup v2. Benchmarks are not tests: nothing asserts a speed, and"
                + " `mvn verify` does not run them.");
        line("");
        line(String.format(Locale.ROOT, "**This run:** %s, %s run, %s, %s in total (`%s`).", run.started(),
                run.quick() ? "a **quick**" : "a full", run.host(), seconds(run.seconds()), resultsName));
        if (!run.suites().isEmpty()) {
            StringBuilder times = new StringBuilder("Suite wall times (budget): ");
            for (int i = 0; i < run.suites().size(); i++) {
                ResultsFile.SuiteRun s = run.suites().get(i);
                times.append(i == 0 ? "" : ", ").append(s.name()).append(' ').append(seconds(s.seconds()))
                        .append(" (").append(seconds(s.budgetSeconds())).append(')');
            }
            line(times + ".");
        }
        if (run.quick()) {
            line("A quick run measures fewer sizes (no 64 or 256 agents, no 50k locks on one file, no 100-process"
                    + " restore) with fewer samples; the full run is the reference.");
        }
        if (!run.failures().isEmpty()) {
            line("");
            line("Not measured in this run:");
            line("");
            run.failures().forEach(f -> line("- " + f.replace('\n', ' ')));
        }
        line("");
    }

    private void targets() {
        List<Targets.Check> checks = Targets.judge(run);
        long met = checks.stream().filter(Targets.Check::met).count();
        line("## Targets");
        line("");
        line(met + " of " + checks.size() + " target checks met in this run.");
        line("");
        line("| target | case | Lockstep | reference | ratio | met |");
        line("|---|---|---|---|---|---|");
        for (Targets.Check c : checks) {
            line("| " + c.target() + " | " + c.caseName() + " | " + value(c.value(), c.unit()) + " | "
                    + value(c.reference(), c.unit()) + " | " + ratio(c.ratio()) + " | "
                    + (c.met() ? "**met**" : "not met") + " |");
        }
        line("");
        List<String> unjudged = Targets.unjudged(checks);
        if (!unjudged.isEmpty()) {
            line("Not judged in this run (no figures): " + String.join("; ", unjudged) + ".");
            line("");
        }
    }

    private void freeze() {
        line("## Freeze (agent): `Freezer.freeze` vs the raw cgroup v2 write + wait for `frozen 1`");
        line("");
        line("Floor: write `cgroup.freeze` and busy re-read `cgroup.events` on already open files. At small groups the"
                + " ratio is fixed cost per call (opening the cgroup files, counting the tasks) that the floor's tight"
                + " loop does not pay.");
        line("");
        suiteTable("freeze", "threads in the group");
    }

    private void capture() {
        line("## Capture (agent): `GroupCapturer.capture` of a frozen group vs reading /proc/locks and every fdinfo");
        line("");
        line("Floor: read /proc/locks and every fdinfo file of the frozen processes. The capture also does per-file"
                + " work the floor does not (readlink, stat, name_to_handle_at, mount identity) and reads each thread's"
                + " /proc/<tid>/syscall to find waiters (a frozen waiter is not in /proc/locks): that fixed cost"
                + " dominates at 1k locks.");
        line("");
        suiteTable("capture", "locks and files");
    }

    private void parse() {
        line("## Parse (agent): /proc/locks parser vs visiting every line (JMH)");
        line("");
        suiteTable("parse", "input");
    }

    /** Every figure of a suite: case, metric, value, floor, ratio, notes. */
    private void suiteTable(String suite, String caseHeader) {
        List<Result> rows = run.results().stream().filter(r -> r.suite().equals(suite) && !r.failed()).toList();
        if (rows.isEmpty()) {
            line("Not measured in this run.");
            line("");
            return;
        }
        line("| " + caseHeader + " | metric | Lockstep | floor | ratio | notes |");
        line("|---|---|---|---|---|---|");
        for (Result r : rows) {
            line("| " + r.caseName() + " | " + r.metric() + " | " + value(r.value(), r.unit()) + " | "
                    + value(r.floor(), r.unit()) + " | " + ratio(r.ratio()) + " | " + r.notes() + " |");
        }
        line("");
    }

    private void checkpoint() {
        line("## Checkpoint (coordinator + agents): latency, frozen window, barrier and requests by agent count");
        line("");
        line("Several agents per JVM (each with its own ZooKeeper session, gRPC server and cgroup root), one small"
                + " process per agent, against a 3-server ZooKeeper ensemble (curator-test `TestingCluster`) in its own"
                + " JVM. Host floor = the slowest host's freeze + capture + thaw done alone, locally. Barrier = N"
                + " participants with their own sessions entering Lockstep's barrier (ephemeral entries + one watching"
                + " waiter) vs Curator's `DistributedDoubleBarrier.enter()`. Requests are **counted**, not estimated:"
                + " ZooKeeper requests on every client (coordinator and agents, through Curator's tracer; a `multi`"
                + " counts once) and gRPC calls through a counting interceptor on the coordinator's channels, per"
                + " checkpoint.");
        line("");
        List<Result> latencies = run.of("checkpoint", "checkpoint-latency-median");
        if (latencies.isEmpty()) {
            line("Not measured in this run.");
            line("");
            return;
        }
        line("| agents | latency | frozen window | host floor | window ÷ floor | barrier | Curator barrier | barrier ratio"
                + " | ZooKeeper writes | ZooKeeper reads | RPCs |");
        line("|---|---|---|---|---|---|---|---|---|---|---|");
        for (Result lat : latencies) {
            String c = lat.caseName();
            Optional<Result> win = run.find("checkpoint", c, "frozen-window-median");
            Optional<Result> bar = run.find("checkpoint", c, "barrier-median");
            line("| " + agents(c) + " | " + value(lat.value(), "ms") + " | "
                    + win.map(r -> value(r.value(), "ms")).orElse("-") + " | "
                    + win.map(r -> value(r.floor(), "ms")).orElse("-") + " | "
                    + win.map(r -> ratio(r.ratio())).orElse("-") + " | "
                    + bar.map(r -> value(r.value(), "ms")).orElse("-") + " | "
                    + bar.map(r -> value(r.floor(), "ms")).orElse("-") + " | "
                    + bar.map(r -> ratio(r.ratio())).orElse("-") + " | "
                    + count(c, "zk-writes-per-checkpoint") + " | " + count(c, "zk-reads-per-checkpoint") + " | "
                    + count(c, "rpcs-per-checkpoint") + " |");
        }
        line("");
        line("![How the costs grow: checkpoint latency and frozen window by agent count, requests per checkpoint,"
                + " restore prepare by lock count](" + plotName + ")");
        line("");
        line("Phase medians and RPCs per method, per agent count:");
        line("");
        for (Result lat : latencies) {
            String phases = lat.notes().contains("phase medians:")
                    ? lat.notes().substring(lat.notes().indexOf("phase medians:")) : "";
            String rpcs = run.find("checkpoint", lat.caseName(), "rpcs-per-checkpoint").map(Result::notes)
                    .map(n -> n.contains("agents: ") ? "RPCs " + n.substring(n.indexOf("agents: ") + 8) : "")
                    .orElse("");
            line("- " + lat.caseName() + ": " + phases + (rpcs.isEmpty() ? "" : "; " + rpcs));
        }
        line("");
        line("All agents share this machine's cores, so the per-host work that separate hosts would do in parallel"
                + " is serialized by the CPU here: the harness overstates how the time grows with agents, while the"
                + " request counts are what separate hosts would send too.");
        line("");
    }

    private void projection() {
        List<Result> writes = run.of("checkpoint", "zk-writes-per-checkpoint");
        line("## Projection to " + PROJECTED_HOSTS + " hosts");
        line("");
        if (writes.size() < 2) {
            line("Needs request counts at two agent counts at least; not measured in this run.");
            line("");
            return;
        }
        Linear w = Linear.fit(writes);
        Linear r = Linear.fit(run.of("checkpoint", "zk-reads-per-checkpoint"));
        Linear c = Linear.fit(run.of("checkpoint", "rpcs-per-checkpoint"));
        // one host alone: with more agents in this JVM the floor's slowest host waits for the CPU
        double hostFloor = run.of("checkpoint", "frozen-window-median").stream()
                .filter(res -> Double.isFinite(res.floor()))
                .min(java.util.Comparator.comparingInt(res -> hosts(res.caseName()))).map(Result::floor).orElse(0.0);
        double rounds = Math.ceil(c.perHost());
        double zkMs = w.at(PROJECTED_HOSTS) / ENSEMBLE_WRITES_PER_S * 1000 + r.at(PROJECTED_HOSTS) / ENSEMBLE_READS_PER_S * 1000;
        double rpcMs = c.at(PROJECTED_HOSTS) * COORDINATOR_MS_PER_RPC;
        double total = rounds * RTT_MS + zkMs + rpcMs + hostFloor;
        line("The counts grow linearly in hosts. A straight line through the two largest agent counts measured ("
                + w.fromHosts() + " and " + w.toHosts() + ") gives, per checkpoint:");
        line("");
        line("| requests | per host | fixed | at " + PROJECTED_HOSTS + " hosts |");
        line("|---|---|---|---|");
        line(projectionRow("ZooKeeper writes", w));
        line(projectionRow("ZooKeeper reads", r));
        line(projectionRow("agent RPCs", c));
        line("");
        line("Assumptions (not measured here): every agent on its own host, so per-host work runs in parallel and"
                + " costs one host floor (measured with the fewest agents, " + value(hostFloor, "ms") + "); an RPC round trip of "
                + RTT_MS + " ms; the coordinator spends " + COORDINATOR_MS_PER_RPC + " ms of CPU per RPC it sends"
                + " (protobuf + TLS), one core; a 3-server ensemble commits about "
                + String.format(Locale.ROOT, "%,.0f", ENSEMBLE_WRITES_PER_S) + " small writes/s and serves about "
                + String.format(Locale.ROOT, "%,.0f", ENSEMBLE_READS_PER_S) + " reads/s; the RPC rounds run one after"
                + " the other (" + (long) rounds + " per host, the RPCs per host rounded up), the calls of a round in"
                + " parallel.");
        line("");
        line(String.format(Locale.ROOT, "Then one checkpoint of %d hosts costs about %d × %.1f ms (RPC rounds) +"
                        + " %.0f ms (ZooKeeper: writes and reads at the rates above) + %.0f ms (coordinator CPU for"
                        + " %.0f RPCs) + %.1f ms (host floor) ≈ **%.0f ms**, most of it inside the frozen window."
                        + " What grows with hosts is the ZooKeeper traffic (the agents' barrier entries: %.1f writes"
                        + " per host) and the coordinator's CPU per RPC; the agents' own work runs in parallel.",
                PROJECTED_HOSTS, (long) rounds, RTT_MS, zkMs, rpcMs, c.at(PROJECTED_HOSTS), hostFloor, total,
                w.perHost()));
        line("");
    }

    private String projectionRow(String name, Linear fit) {
        return String.format(Locale.ROOT, "| %s | %.2f | %.0f | %.0f |", name, fit.perHost(), fit.fixed(),
                fit.at(PROJECTED_HOSTS));
    }

    /** count = fixed + perHost × hosts, through the two largest agent counts. */
    private record Linear(double fixed, double perHost, int fromHosts, int toHosts) {
        static Linear fit(List<Result> counts) {
            List<Result> sorted = counts.stream().filter(r -> Double.isFinite(r.value()))
                    .sorted(java.util.Comparator.comparingInt(res -> hosts(res.caseName()))).toList();
            if (sorted.size() < 2) {
                return new Linear(Double.NaN, Double.NaN, 0, 0);
            }
            Result a = sorted.get(sorted.size() - 2);
            Result b = sorted.get(sorted.size() - 1);
            int ha = hosts(a.caseName());
            int hb = hosts(b.caseName());
            double perHost = (b.value() - a.value()) / (hb - ha);
            return new Linear(b.value() - perHost * hb, perHost, ha, hb);
        }

        double at(int hosts) {
            return fixed + perHost * hosts;
        }
    }

    private void restore() {
        line("## Restore (agent stubs): prepare vs raw fcntl; N processes vs starting them plainly");
        line("");
        line("Prepare: one restore stub takes the locks non-blocking in global order; floor = one process opening the"
                + " same files and taking the same locks with `fcntl(F_SETLK)`. Restore of N processes: stage N stubs and"
                + " release them into `/bin/sleep 0`; floor = starting the same N programs plainly. Each stub is the"
                + " native `lockstep-stub` (C), started through the same `ProcessBuilder` as the floor's programs.");
        line("");
        suiteTable("restore", "case");
    }

    private String count(String caseName, String metric) {
        return run.find("checkpoint", caseName, metric).filter(r -> Double.isFinite(r.value()))
                .map(r -> String.format(Locale.ROOT, "%.0f", r.value())).orElse("-");
    }

    private static int hosts(String caseName) {
        Matcher m = AGENTS.matcher(caseName);
        return m.matches() ? Integer.parseInt(m.group(1)) : 0;
    }

    private static String agents(String caseName) {
        Matcher m = AGENTS.matcher(caseName);
        return m.matches() ? m.group(1) : caseName;
    }

    static String value(double v, String unit) {
        if (!Double.isFinite(v)) {
            return "-";
        }
        String number = v >= 100 ? String.format(Locale.ROOT, "%.0f", v)
                : v >= 10 ? String.format(Locale.ROOT, "%.1f", v) : String.format(Locale.ROOT, "%.2f", v);
        return unit.isEmpty() ? number : number + " " + unit;
    }

    static String ratio(double r) {
        return Double.isFinite(r) ? String.format(Locale.ROOT, r >= 10 ? "%.0f×" : "%.2f×", r) : "-";
    }

    private static String seconds(double s) {
        return Double.isFinite(s) ? String.format(Locale.ROOT, "%.0f s", s) : "-";
    }

    private void line(String text) {
        md.append(text).append('\n');
    }
}
