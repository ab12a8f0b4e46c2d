package io.lockstep.bench.report;

import io.lockstep.bench.BenchMain;
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
 * checkpoint, the barrier against Curator's, and a projection to 1000 hosts fitted to the
 * measured points, with its error at each and what it leaves out.
 */
final class BenchmarksPage {
    /** Hosts the projection is made for. */
    static final int PROJECTED_HOSTS = 1000;
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
        guard();
        capture();
        captureScaling();
        parse();
        checkpoint();
        checkpointJvm();
        barrier();
        projection();
        store();
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
        line("bench/run.sh                    # full run, at most " + BenchMain.FULL_RUN_AT_MOST.toMinutes()
                + " minutes on 2 cores (each suite has a hard time budget)");
        line("bench/run.sh --quick            # a few minutes: fewer samples and sizes");
        line("bench/run.sh --suite checkpoint # one suite; suites: freeze, capture, capture-scaling, parse, checkpoint, barrier, store, restore, snapshot");
        line("bench/run.sh --suite barrier --merge  # re-measure one suite, keep the other suites' figures in the file");
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
        if (!run.merged().isEmpty()) {
            line("Merged into this run later (the figures of these suites are from that later run, each with its"
                    + " floor measured in it): " + String.join("; ", run.merged()) + ".");
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

    private void guard() {
        line("## Freeze guard (agent): arming the long-lived guard vs one round trip to it");
        line("");
        line("Each freeze is armed in the agent's long-lived guard (`lockstep-guard`, one line over its Unix socket)"
                + " before it starts; the process-per-freeze guard of earlier releases is measured for comparison.");
        line("");
        suiteTable("guard", "guard");
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

    private void captureScaling() {
        line("## Capture scaling (agent): processes and threads vs reading their /proc files");
        line("");
        line("A bash parent with 10, 200 or 1000 `sleep` children, and one JVM with 2000 idle threads, frozen."
                + " Floor (Java, one pass, nothing parsed): /proc/locks, one mountinfo, per process status, comm,"
                + " cmdline, the cwd link, per fd its link, fdinfo and stat(2), per thread its syscall file. Frozen"
                + " window: the agent's freezer, capture and thaw in the bench JVM, against a raw cgroup.freeze"
                + " write, the floor and a raw thaw. Beyond the floor a capture reads each process's mount namespace"
                + " and root links (which mount table applies), takes a file handle (name_to_handle_at) of its cwd"
                + " and of each regular file, and builds the manifest. The 1000-process frozen window is judged"
                + " against 3× its floor + 10 ms.");
        line("");
        suiteTable("capture-scaling", "group");
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
        line("## Checkpoint (coordinator + agents): latency, frozen window and requests by agent count");
        line("");
        line("Several agents per JVM (each with its own ZooKeeper session, gRPC server and cgroup root), one small"
                + " process per agent, against a 3-server ZooKeeper ensemble (curator-test `TestingCluster`) in its own"
                + " JVM. After the first checkpoint (reported on its own below), up to 30 unmeasured checkpoints (at most"
                + " 15 s) before the measured ones: the JIT compiles the window's code by invocation counts, and an agent"
                + " that checkpoints periodically is past the first few. Host floor = the slowest host's freeze +"
                + " capture + thaw done alone, locally."
                + " Requests are **counted**, not estimated:"
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
        line("| agents | latency | frozen window | host floor | window ÷ floor"
                + " | ZooKeeper writes | ZooKeeper reads | RPCs |");
        line("|---|---|---|---|---|---|---|---|");
        for (Result lat : latencies) {
            String c = lat.caseName();
            Optional<Result> win = run.find("checkpoint", c, "frozen-window-median");
            line("| " + agents(c) + " | " + value(lat.value(), "ms") + " | "
                    + win.map(r -> value(r.value(), "ms")).orElse("-") + " | "
                    + win.map(r -> value(r.floor(), "ms")).orElse("-") + " | "
                    + win.map(r -> ratio(r.ratio())).orElse("-") + " | "
                    + count(c, "zk-writes-per-checkpoint") + " | " + count(c, "zk-reads-per-checkpoint") + " | "
                    + count(c, "rpcs-per-checkpoint") + " |");
        }
        line("");
        line("![How the costs grow: checkpoint latency and frozen window by agent count, requests per checkpoint,"
                + " restore prepare by lock count](" + plotName + ")");
        line("");
        line("Phase medians, the ZooKeeper requests of the last checkpoint of each count (the coordinator's per phase:"
                + " how many, and their latencies summed, Curator's whole milliseconds; the agents' per kind: how many,"
                + " median and largest latency) and RPCs per method, per agent count:");
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
        List<Result> writeFloors = run.of("checkpoint", "zk-write-floor");
        if (!writeFloors.isEmpty()) {
            line("The fixed cost of each ZooKeeper hop left in the window, measured on the same ensemble in the same run"
                    + " (median of 20): one write (a create, answered) and one signal (a create on one session until"
                    + " another session's exists watch is notified): " + String.join("; ", writeFloors.stream()
                    .map(w -> w.caseName() + ": write " + value(w.value(), "ms") + ", signal "
                            + run.find("checkpoint", w.caseName(), "zk-signal-floor").map(s -> value(s.value(), "ms"))
                            .orElse("-")).toList()) + ".");
            line("");
        }
        List<Result> protocol = run.of("checkpoint", "frozen-window-vs-protocol-floor");
        if (!protocol.isEmpty()) {
            line("The window against what this protocol cannot do without, measured in the same run: the slowest host's"
                    + " freeze + capture + thaw, plus, for more than one host, per barrier one ZooKeeper write (the last"
                    + " entry, whose count child is the signal) and one notification (a host alone has no ZooKeeper hop"
                    + " inside its window): " + String.join("; ", protocol.stream().map(r -> r.caseName() + " "
                    + value(r.value(), "ms") + " against " + value(r.floor(), "ms") + " (" + ratio(r.ratio()) + ")")
                    .toList()) + ".");
            line("");
        }
        List<Result> firsts = run.of("checkpoint", "first-frozen-window");
        if (!firsts.isEmpty()) {
            line("The first checkpoint after the agents started (at start-up each agent runs the window's own code —"
                    + " guard, freeze, capture, thaw — on a scratch group of its own; the coordinator connects to the"
                    + " agents while the op opens), against the warm median of the same run:"
                    + " " + String.join("; ", firsts.stream().map(r -> r.caseName() + " " + value(r.value(), "ms")
                    + " (" + ratio(r.ratio()) + ")").toList()) + ".");
            line("");
        }
        line("All agents share this machine's cores, so the per-host work that separate hosts would do in parallel"
                + " is serialized by the CPU here: the harness overstates how the time grows with agents, while the"
                + " request counts are what separate hosts would send too.");
        line("");
        List<Result> busy = run.of("checkpoint", "window-cores-busy-median");
        if (!busy.isEmpty()) {
            line("How busy the cores were while the hosts moved through the window, counted by the kernel (cgroup v1"
                    + " cpuacct: the bench JVM, the ensemble's JVM and the whole machine each in their own account, so"
                    + " the counts do not depend on the load): near " + (int) busy.get(0).floor() + " of "
                    + (int) busy.get(0).floor() + " cores busy, the window is the time this machine's cores need for the"
                    + " hosts', the ensemble's and the JIT's work, not a wait in the protocol.");
            line("");
            for (Result r : busy) {
                line("- " + r.caseName() + ": " + r.notes());
            }
            line("");
        }
    }

    private void checkpointJvm() {
        line("## Checkpoint with the agents as deployed: one JVM per agent");
        line("");
        line("Each agent is its own `agent serve` JVM (2, 4, 8), one small process each, against the same 3-server"
                + " ZooKeeper ensemble; the coordinator runs in the bench JVM (no CLI start in the latency). Host floor"
                + " = the slowest host's freeze + capture + thaw done alone from the bench JVM on the agents' own"
                + " cgroups. RPCs are counted on the coordinator's channels.");
        line("");
        suiteTable("checkpoint-jvm", "agents");
    }

    private void barrier() {
        line("## Barrier: every member waits until all have entered, Lockstep vs Curator");
        line("");
        line("N members, each with its own ZooKeeper session, against the same 3-server ensemble, with the same"
                + " meaning on both sides: every member returns only once all N have entered. Lockstep: each member"
                + " creates its ephemeral phase entry, then waits with `PhaseBarrier` (a watch on the barrier's"
                + " children) until all N entries exist. Curator: each member calls `DistributedDoubleBarrier.enter()`."
                + " Time from the start until the last member returned. (In a checkpoint only the coordinator waits on"
                + " Lockstep's barrier; the agents enter it and go on.)");
        line("");
        List<Result> barriers = run.of("barrier", "barrier-median");
        if (barriers.isEmpty()) {
            line("Not measured in this run.");
            line("");
            return;
        }
        line("| members | Lockstep | Curator | ratio | notes |");
        line("|---|---|---|---|---|");
        for (Result r : barriers) {
            line("| " + agents(r.caseName()) + " | " + value(r.value(), "ms") + " | " + value(r.floor(), "ms") + " | "
                    + ratio(r.ratio()) + " | " + r.notes() + " |");
        }
        line("");
    }

    private void projection() {
        line("## Projection to " + PROJECTED_HOSTS + " hosts");
        line("");
        List<Result> latencies = measured(run.of("checkpoint", "checkpoint-latency-median"));
        List<Result> windows = measured(run.of("checkpoint", "frozen-window-median"));
        if (latencies.size() < 3 || windows.size() != latencies.size()) {
            line("Needs latency and frozen window at three agent counts at least; not measured in this run.");
            line("");
            return;
        }
        Fit latency = Fit.relative(latencies, 1);
        Fit window = Fit.relative(windows, 1);
        line("A straight line fitted to this run's own checkpoint measurements (" + agents(latencies.get(0).caseName())
                + " to " + agents(latencies.get(latencies.size() - 1).caseName()) + " agents; least squares on the"
                + " relative error), and its error at each measured point:");
        line("");
        line("| agents | latency | fitted | error | frozen window | fitted | error |");
        line("|---|---|---|---|---|---|---|");
        for (int i = 0; i < latencies.size(); i++) {
            int n = hosts(latencies.get(i).caseName());
            double lat = latencies.get(i).value();
            double win = windows.get(i).value();
            line("| " + n + " | " + value(lat, "ms") + " | " + value(latency.at(n), "ms") + " | "
                    + percent(latency.at(n), lat) + " | " + value(win, "ms") + " | " + value(window.at(n), "ms") + " | "
                    + percent(window.at(n), win) + " |");
        }
        line("");
        String projected = String.format(Locale.ROOT, "Latency ≈ %.0f ms + %.2f ms × agents; frozen window ≈ %.0f ms"
                        + " + %.2f ms × agents. At %d agents that is a latency of about **%.1f s** and a frozen window of"
                        + " about **%.1f s**.",
                latency.coefficient(0), latency.coefficient(1), window.coefficient(0), window.coefficient(1),
                PROJECTED_HOSTS, latency.at(PROJECTED_HOSTS) / 1000, window.at(PROJECTED_HOSTS) / 1000);
        if (latencies.size() > 3) {
            // A second model needs more points than its three parameters to say anything.
            Fit latency2 = Fit.relative(latencies, 2);
            Fit window2 = Fit.relative(windows, 2);
            projected += String.format(Locale.ROOT, " A quadratic fitted the same way (largest error %s and %s) gives"
                            + " %.1f s and %.1f s: the spread between the two is how uncertain it is to extrapolate %.1f×"
                            + " beyond the largest count measured.",
                    latency2.largestError(latencies), window2.largestError(windows), latency2.at(PROJECTED_HOSTS) / 1000,
                    window2.at(PROJECTED_HOSTS) / 1000,
                    (double) PROJECTED_HOSTS / hosts(latencies.get(latencies.size() - 1).caseName()));
        }
        line(projected);
        line("");
        List<Result> writes = measured(run.of("checkpoint", "zk-writes-per-checkpoint"));
        if (writes.size() >= 3) {
            line("Requests per checkpoint, counted, fitted the same way:");
            line("");
            line("| requests | per host | fixed | largest error at a measured point | at " + PROJECTED_HOSTS + " hosts |");
            line("|---|---|---|---|---|");
            line(countRow("ZooKeeper writes", writes));
            line(countRow("ZooKeeper reads", measured(run.of("checkpoint", "zk-reads-per-checkpoint"))));
            line(countRow("agent RPCs", measured(run.of("checkpoint", "rpcs-per-checkpoint"))));
            line("");
            line("Per host there are three writes: the host's two barrier entries (`frozen`, `captured`, each one"
                    + " multi that also adds a child to the barrier's count) and one multi that deletes both once the"
                    + " host saw the decision, outside the frozen window. No write closes a barrier: the count child"
                    + " of its last entry is its signal, `all-frozen` (on whose creation every host captures) or"
                    + " `all-captured` (on whose creation every host thaws). A host alone in its op writes nothing"
                    + " inside the window: it captures, thaws, then makes both entries in one multi. The coordinator's"
                    + " fixed writes are its lock, the open, the commit (after the thaw and the store write) and their"
                    + " clean-up. Per host there are two calls: Freeze (which also arms the host's"
                    + " long-lived freeze guard) and, after the thaw, Capture, which brings the manifest and the"
                    + " moment of the thaw.");
            line("");
        }
        line("What the projection leaves out:");
        line("");
        line("- It projects **this harness**, where all agents share one " + run.host().replaceAll(".*, (\\d+) cores.*", "$1")
                + "-core machine: each host's own work (freezing, capturing, thawing) is serialized"
                + " by the CPU here and counted in the per-agent term, while separate hosts would do it in parallel."
                + " How much of the per-agent term is that, and how much is the coordinator's and ZooKeeper's own"
                + " per-host cost, is not measured.");
        line("- Networks: everything runs over loopback; round trips between real hosts and to a real ensemble are"
                + " not in the figures.");
        line("- ZooKeeper: the ensemble runs on this machine (its three servers in one JVM); a real ensemble's disk"
                + " syncs and its write rate limit are not in the fit.");
        line("- Anything that only shows beyond the largest count measured (the coordinator's fan-out, watches on a"
                + " barrier with " + PROJECTED_HOSTS + " children, garbage collection) is assumed absent.");
        line("");
    }

    private static List<Result> measured(List<Result> results) {
        return results.stream().filter(r -> Double.isFinite(r.value()) && hosts(r.caseName()) > 0)
                .sorted(java.util.Comparator.comparingInt(r -> hosts(r.caseName()))).toList();
    }

    private String countRow(String name, List<Result> counts) {
        Fit fit = Fit.relative(counts, 1);
        return String.format(Locale.ROOT, "| %s | %.2f | %.0f | %s | %.0f |", name, fit.coefficient(1), fit.coefficient(0),
                fit.largestError(counts), fit.at(PROJECTED_HOSTS));
    }

    private static String percent(double fitted, double measured) {
        return String.format(Locale.ROOT, "%+d%%", Math.round((fitted - measured) / measured * 100));
    }

    /** value = c0 + c1·agents (+ c2·agents²), least squares on the relative error at the measured points. */
    private record Fit(double[] coefficients) {
        static Fit relative(List<Result> points, int degree) {
            int k = degree + 1;
            double[][] a = new double[k][k + 1];
            for (Result p : points) {
                double n = hosts(p.caseName());
                double weight = 1 / (p.value() * p.value());
                for (int i = 0; i < k; i++) {
                    for (int j = 0; j < k; j++) {
                        a[i][j] += weight * Math.pow(n, i + j);
                    }
                    a[i][k] += weight * Math.pow(n, i) * p.value();
                }
            }
            // Gaussian elimination with partial pivoting on the normal equations (at most 3×3).
            for (int col = 0; col < k; col++) {
                int pivot = col;
                for (int row = col + 1; row < k; row++) {
                    if (Math.abs(a[row][col]) > Math.abs(a[pivot][col])) {
                        pivot = row;
                    }
                }
                double[] swap = a[col];
                a[col] = a[pivot];
                a[pivot] = swap;
                for (int row = 0; row < k; row++) {
                    if (row != col) {
                        double f = a[row][col] / a[col][col];
                        for (int j = col; j <= k; j++) {
                            a[row][j] -= f * a[col][j];
                        }
                    }
                }
            }
            double[] c = new double[k];
            for (int i = 0; i < k; i++) {
                c[i] = a[i][k] / a[i][i];
            }
            return new Fit(c);
        }

        double coefficient(int power) {
            return power < coefficients.length ? coefficients[power] : 0;
        }

        double at(int agents) {
            double v = 0;
            for (int i = 0; i < coefficients.length; i++) {
                v += coefficients[i] * Math.pow(agents, i);
            }
            return v;
        }

        String largestError(List<Result> points) {
            double worst = 0;
            for (Result p : points) {
                double e = (at(hosts(p.caseName())) - p.value()) / p.value();
                worst = Math.abs(e) > Math.abs(worst) ? e : worst;
            }
            return String.format(Locale.ROOT, "%+d%%", Math.round(worst * 100));
        }
    }

    private void store() {
        line("## Store backends (coordinator): checkpoint latency and frozen window with `file:` and `s3:`");
        line("");
        line("The same agents (1, 4, 16; one process each) checkpoint into a `file:` store (a local directory) and"
                + " into an `s3:` store on S3Proxy (filesystem backend, its own JVM, over loopback HTTP). Floor: the"
                + " least any store must do for one checkpoint, measured after each one on the same bytes — a bare"
                + " PUT of each manifest to the same S3Proxy, or a bare write + fsync of each manifest to a new file,"
                + " all manifests in parallel as the coordinator writes them. `manifest-writes-median` is the"
                + " store's own share inside the checkpoint (first write's start to last write's end): the s3: store"
                + " adds a HEAD before each PUT (servers that ignore `If-None-Match`), the file: store a link and a"
                + " directory fsync. Where manifests are written before the thaw, the frozen window contains that"
                + " share; `bench/run.sh --suite store --merge` measures it again after a change.");
        line("");
        suiteTable("store", "store, agents");
    }

    private void restore() {
        line("## Restore (agent stubs): prepare vs raw fcntl; N processes vs starting them plainly");
        line("");
        line("Prepare: one restore stub takes the locks non-blocking in global order; floor = one process opening the"
                + " same files and taking the same locks with `fcntl(F_SETLK)`. Restore of N processes: stage N stubs and"
                + " release them into `/bin/sleep 0`; floor = starting the same N programs plainly. Each stub is the"
                + " native `lockstep-stub` (C), started through the same `ProcessBuilder` as the floor's programs."
                + " Stage of 1 process: start one stub, send its plan, have it place one file descriptor and report"
                + " (the agent's stage phase per process); its target is absolute (10 ms), and the floor shown is"
                + " starting `/bin/true` and waiting for its exit.");
        line("");
        suiteTable("restore", "case");
        snapshot();
    }

    private void snapshot() {
        line("");
        line("## Snapshot (agent): what each engine adds to the frozen window");
        line("");
        line("`SnapshotEngine.take` per engine at 10 and 1000 files and at 1 GiB, on file systems made on loop devices"
                + " (sparse images on the machine's disk), after warm-up snapshots (10, or 1 at 1 GiB; 3 with --quick)."
                + " Floors: reflink = one raw `FICLONE` per file; btrfs = the snapshot ioctl alone; copy = a sequential"
                + " write of the same bytes with fsync to the store's disk, as a rate (there the ratio is copy rate ÷ disk"
                + " rate, higher is better). The copy engine appends the changed files to one pack (one `sendfile` each)"
                + " and leaves their sha256 and its fsync to `SnapshotEngine.makeDurable`, which the agent calls after the"
                + " thaw and before the manifest reaches the coordinator: `copy-rate-median` is the window (take),"
                + " `durable-rate-median` take + makeDurable, both against the same floor. Every file's content is its own"
                + " (random bytes, its number first), so the copy engine stores none as another's.");
        line("");
        suiteTable("snapshot", "engine and data");
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
