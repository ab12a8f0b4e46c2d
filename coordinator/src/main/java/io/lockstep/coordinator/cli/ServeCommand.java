package io.lockstep.coordinator.cli;

import io.lockstep.coordinator.checkpoint.CheckpointOptions;
import io.lockstep.coordinator.metrics.CoordinatorMetrics;
import io.lockstep.coordinator.serve.PeriodicCheckpoints;
import io.lockstep.metrics.MetricsEndpoint;
import io.lockstep.zk.ZkLayout;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Spec;

import java.io.PrintWriter;
import java.time.Duration;
import java.util.concurrent.Callable;

@Command(name = "serve", mixinStandardHelpOptions = true,
        description = {
                "Takes a checkpoint of a group every --interval and keeps the newest --keep. Run it on several "
                        + "machines for availability: one instance is elected leader in ZooKeeper and acts, the "
                        + "others wait to take over. A tick that finds an operation running is skipped.",
                "Runs until stopped (SIGTERM/Ctrl-C)."})
final class ServeCommand implements Callable<Integer> {
    @Spec
    CommandSpec spec;

    @Mixin
    ConnectionOptions connection;

    @Option(names = "--group", required = true, paramLabel = "GROUP", description = "The group to checkpoint.")
    String group;

    @Option(names = "--interval", required = true, paramLabel = "DURATION", description = "Time between checkpoints.")
    Duration interval;

    @Option(names = "--keep", paramLabel = "N", defaultValue = "10",
            description = "Committed checkpoints to keep (default: ${DEFAULT-VALUE}).")
    int keep;

    @Option(names = "--timeout", paramLabel = "DURATION", defaultValue = "60s",
            description = "Deadline of each checkpoint (default: ${DEFAULT-VALUE}).")
    Duration timeout;

    @Option(names = "--metrics-listen", paramLabel = "HOST:PORT",
            description = "Serve Prometheus metrics at http://HOST:PORT/metrics (default: off).")
    String metricsListen;

    @Option(names = "--ticks", paramLabel = "N", defaultValue = "0", hidden = true,
            description = "Stop after N ticks (for tests and demonstrations; 0 = run until stopped).")
    int ticks;

    @Override
    public Integer call() throws Exception {
        ZkLayout.checkName("group", group);
        if (keep < 1) {
            throw new IllegalArgumentException("--keep must be at least 1");
        }
        if (metricsListen != null) {
            MetricsEndpoint.parse(metricsListen);
        }
        PrintWriter out = spec.commandLine().getOut();
        CoordinatorMetrics metrics = new CoordinatorMetrics();
        try (MetricsEndpoint endpoint = metricsListen == null ? null : MetricsEndpoint.start(metricsListen, metrics.registry());
             CoordinatorSession session = CoordinatorSession.open(connection, spec.commandLine().getErr());
             PeriodicCheckpoints serve = new PeriodicCheckpoints(session.context(), group, interval, keep,
                     CheckpointOptions.defaults().withTimeout(timeout), metrics::listener)) {
            if (endpoint != null) {
                out.println("metrics at " + endpoint.url());
            }
            serve.start();
            Thread stopper = new Thread(serve::stop, "lockstep-serve-stop");
            Runtime.getRuntime().addShutdownHook(stopper);
            out.println("serving group " + group + ": a checkpoint every " + HumanFormat.duration(interval)
                    + ", keeping the newest " + keep);
            out.flush();
            serve.run(ticks, tick -> {
                out.println(tickLine(tick));
                out.flush();
            });
        }
        return ExitCode.OK.code();
    }

    /** "tick: committed ckpt-000007 (…); deleted ckpt-000003", "tick: skipped (processes gone): …". */
    static String tickLine(PeriodicCheckpoints.Tick tick) {
        return switch (tick.outcome()) {
            case COMMITTED -> "tick: committed " + tick.detail() + "; retention deleted "
                    + (tick.deleted().isEmpty() ? "nothing" : String.join(", ", tick.deleted()));
            case SKIPPED_NOT_LEADER -> "tick: skipped (not leader)";
            case SKIPPED_BUSY -> "tick: skipped (busy): " + tick.detail();
            case SKIPPED_PROCESSES_GONE -> "tick: skipped (processes gone), nothing committed or deleted: " + tick.detail();
            case FAILED -> "tick: failed: " + tick.detail();
        };
    }
}
