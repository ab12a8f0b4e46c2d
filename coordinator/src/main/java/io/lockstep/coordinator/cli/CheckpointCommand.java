package io.lockstep.coordinator.cli;

import io.lockstep.cli.JsonText;
import io.lockstep.coordinator.checkpoint.CheckpointOperation;
import io.lockstep.coordinator.checkpoint.CheckpointOptions;
import io.lockstep.coordinator.op.CheckpointResult;
import io.lockstep.zk.ZkLayout;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Spec;

import java.io.PrintWriter;
import java.time.Duration;
import java.util.Map;
import java.util.concurrent.Callable;
import java.util.stream.Collectors;

@Command(name = "checkpoint", mixinStandardHelpOptions = true,
        description = {
                "Takes one coordinated checkpoint of a group: freezes the group on every host that has its "
                        + "processes, captures processes, open files and locks (and snapshots its data paths) once "
                        + "all are frozen, thaws it once every host captured, then stores the manifests and commits "
                        + "the checkpoint in ZooKeeper.",
                "Any failure before the commit aborts: the group is thawed and nothing is kept. The group is "
                        + "never left frozen longer than --max-frozen, even if this command dies."})
final class CheckpointCommand implements Callable<Integer> {
    private static final Duration RPC_TIMEOUT = CheckpointOptions.defaults().rpcTimeout();

    @Spec
    CommandSpec spec;

    @Mixin
    ConnectionOptions connection;

    @Option(names = "--group", required = true, paramLabel = "GROUP", description = "The group to checkpoint.")
    String group;

    @Option(names = "--timeout", paramLabel = "DURATION", defaultValue = "60s",
            description = "Abort if the whole checkpoint has not committed by then (default: ${DEFAULT-VALUE}).")
    Duration timeout;

    @Option(names = "--freeze-timeout", paramLabel = "DURATION", defaultValue = "10s",
            description = "Abort if not every host is frozen by then (default: ${DEFAULT-VALUE}).")
    Duration freezeTimeout;

    @Option(names = "--max-frozen", paramLabel = "DURATION", defaultValue = "60s",
            description = "Agents thaw the group after this long whatever happens (default: ${DEFAULT-VALUE}; "
                    + "agents raise it to at least their ZooKeeper session timeout plus a margin).")
    Duration maxFrozen;

    @Option(names = "--json", description = "Print the result as JSON on stdout.")
    boolean json;

    @Mixin
    ProgressOptions progress;

    @Override
    public Integer call() throws Exception {
        ZkLayout.checkName("group", group);
        CheckpointOptions options = new CheckpointOptions(timeout, shorter(freezeTimeout, timeout), maxFrozen,
                shorter(RPC_TIMEOUT, timeout));
        PrintWriter err = spec.commandLine().getErr();
        try (CoordinatorSession session = CoordinatorSession.open(connection, err, CoordinatorSession.StoreUse.ACT)) {
            CheckpointResult result = new CheckpointOperation(session.context(), options, progress.listener(err)).run(group);
            PrintWriter out = spec.commandLine().getOut();
            out.println(json ? JsonText.print(toJson(result)) : toText(result));
            out.flush();
        }
        return ExitCode.OK.code();
    }

    static String toText(CheckpointResult result) {
        String phases = result.phaseMicros().entrySet().stream()
                .map(phase -> phase.getKey() + " " + HumanFormat.micros(phase.getValue()))
                .collect(Collectors.joining(", "));
        return "checkpoint " + result.checkpointId() + " of group " + result.group() + " committed (epoch "
                + result.epoch() + ")\n"
                + "  hosts      " + result.hosts().size() + ": " + String.join(", ", result.hosts()) + "\n"
                + "  processes  " + result.processes() + "\n"
                + "  locks      " + result.locks() + "\n"
                + "  files      " + result.files() + "\n"
                + "  frozen     " + HumanFormat.micros(result.frozenWindowMicros()) + " (first freeze to last thaw)\n"
                + "  phases     " + phases;
    }

    private static Map<String, Object> toJson(CheckpointResult result) {
        Map<String, Object> json = JsonText.object();
        json.put("checkpointId", result.checkpointId());
        json.put("group", result.group());
        json.put("epoch", result.epoch());
        json.put("hosts", result.hosts());
        json.put("processes", result.processes());
        json.put("locks", result.locks());
        json.put("files", result.files());
        json.put("frozenWindowMs", result.frozenWindowMicros() / 1000.0);
        json.put("phaseMs", millis(result.phaseMicros()));
        json.put("catalogEntry", result.catalogEntry());
        return json;
    }

    /** Phase durations in the one unit of every --json output: milliseconds (fractions for µs). */
    static Map<String, Object> millis(Map<String, Long> phaseMicros) {
        Map<String, Object> millis = JsonText.object();
        phaseMicros.forEach((phase, micros) -> millis.put(phase, micros / 1000.0));
        return millis;
    }

    private static Duration shorter(Duration a, Duration b) {
        return a.compareTo(b) <= 0 ? a : b;
    }
}
