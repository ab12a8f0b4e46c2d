package io.lockstep.coordinator.cli;

import io.lockstep.cli.JsonText;
import io.lockstep.coordinator.restore.RestoreOperation;
import io.lockstep.coordinator.restore.RestoreOptions;
import io.lockstep.coordinator.op.RestoreResult;
import io.lockstep.coordinator.restore.ValidationReport;
import io.lockstep.coordinator.store.CheckpointStore;
import io.lockstep.coordinator.store.StoreBinding;
import io.lockstep.proto.CatalogEntry;
import io.lockstep.proto.Manifest;
import io.lockstep.proto.PathMapping;
import io.lockstep.proto.StagedProcess;
import io.lockstep.zk.ZkLayout;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Spec;

import java.io.PrintWriter;
import java.time.Duration;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.Callable;
import java.util.stream.Collectors;

@Command(name = "restore", mixinStandardHelpOptions = true,
        description = {
                "Restores a committed checkpoint of a group, on the same or on other hosts: every target agent checks "
                        + "every recorded file (a network file through its own mount of the same export, a local "
                        + "file only on its own host), starts one restore stub per process with its files reopened "
                        + "at their recorded descriptors, then all locks that were held are taken again in one "
                        + "global order over all hosts, and only when every host holds all of them is the restore "
                        + "committed and every stub turned into its restarted program (LOCKSTEP_RESTORED=1).",
                "A refused or failed restore leaves no stub running and no lock held."})
final class RestoreCommand implements Callable<Integer> {
    @Spec
    CommandSpec spec;

    @Mixin
    ConnectionOptions connection;

    @Option(names = "--group", required = true, paramLabel = "GROUP", description = "The group to restore.")
    String group;

    @Option(names = "--checkpoint", paramLabel = "ID", defaultValue = "latest",
            description = "Which checkpoint (default: ${DEFAULT-VALUE}).")
    String checkpoint;

    @Option(names = "--map", paramLabel = "OLD=NEW", description = "Restore host OLD's processes on host NEW (repeatable; unnamed hosts stay where they were).")
    List<String> hostMaps = new ArrayList<>();

    @Option(names = "--path-map", paramLabel = "FROM=TO", description = "Files under FROM are found under TO (repeatable).")
    List<String> pathMaps = new ArrayList<>();

    @Option(names = "--force", description = "Accept files whose size or mtime changed since the checkpoint (never missing files).")
    boolean force;

    @Option(names = "--no-rollback", description = "Keep the current files even where the checkpoint has snapshots "
            + "(by default a restore rolls them back to the checkpoint's content first); size and mtime are then validated.")
    boolean noRollBack;

    @Option(names = "--allow-root", description = "Let restored commands run as uid 0 (the agents must allow it too).")
    boolean allowRoot;

    @Option(names = "--skip-unrestartable", description = "Leave out processes without a restart command instead of refusing.")
    boolean skipUnrestartable;

    @Option(names = "--timeout", paramLabel = "DURATION", defaultValue = "60s",
            description = "Abort if the restore has not committed by then; bounds every lock wait (default: ${DEFAULT-VALUE}).")
    Duration timeout;

    @Option(names = "--replace", description = "If the group still runs on a source or target host, stop it first "
            + "(SIGTERM, then SIGKILL after --replace-grace) and say what was stopped. Without it such a restore is "
            + "refused (exit 12) before anything is staged.")
    boolean replace;

    @Option(names = "--replace-grace", paramLabel = "DURATION", defaultValue = "10s",
            description = "With --replace: how long processes get to exit after SIGTERM before SIGKILL (default: ${DEFAULT-VALUE}).")
    Duration replaceGrace;

    @Option(names = "--json", description = "Print the result as JSON on stdout.")
    boolean json;

    @Mixin
    ProgressOptions progress;

    @Override
    public Integer call() throws Exception {
        ZkLayout.checkName("group", group);
        RestoreOptions options = RestoreOptions.defaults()
                .withCheckpoint(checkpoint)
                .withHostMap(hostMap())
                .withPathMaps(pathMappings())
                .withForce(force)
                .withNoRollBack(noRollBack)
                .withAllowRoot(allowRoot)
                .withSkipUnrestartable(skipUnrestartable)
                .withTimeout(timeout);
        if (replace) {
            options = options.withReplace(replaceGrace);
        }
        PrintWriter err = spec.commandLine().getErr();
        try (CoordinatorSession session = CoordinatorSession.open(connection, err, CoordinatorSession.StoreUse.RESTORE)) {
            if (session.recovery().isPresent()) {
                verifyForRecovery(session, session.recovery().get(), err);
            }
            RestoreResult result = new RestoreOperation(session.context(), options, progress.listener(err)).run(group);
            PrintWriter out = spec.commandLine().getOut();
            out.println(json ? JsonText.print(toJson(result)) : toText(result));
            out.flush();
            if (!result.fullyReleased()) {
                result.releaseFailures().forEach((host, failure) -> err.println("lockstep: restore " + result.opId()
                        + " committed, but the release on host " + host + " failed: " + failure
                        + "; those processes are not running and their locks are not held"));
                err.flush();
                return ExitCode.RELEASE_FAILED.code();
            }
        }
        return ExitCode.OK.code();
    }

    /**
     * A restore from a store that is not the deployment's: says so, and reads and checks every
     * manifest of the checkpoint against the catalog before any agent is asked to do anything.
     */
    private void verifyForRecovery(CoordinatorSession session, StoreBinding.Check check, PrintWriter err)
            throws Exception {
        CheckpointStore store = session.context().store();
        err.println("lockstep: read-only recovery from store " + store.uri() + " ("
                + check.storeId().map(id -> "store id " + id).orElse("no store id") + "), which is not this deployment's "
                + "store " + check.deployment().uri() + " (store id " + check.deployment().storeId() + "): nothing is "
                + "written to it, and every manifest is verified against the catalog first");
        CatalogEntry entry = session.catalog().resolve(group, checkpoint);
        Map<String, Manifest> verified = ShowCommand.readManifests(session.context(), entry);
        err.println("lockstep: verified " + verified.size() + " manifest(s) of checkpoint " + entry.getCheckpointId()
                + " (" + String.join(", ", verified.keySet()) + "): size, sha256 and format match the catalog");
        err.flush();
    }

    private Map<String, String> hostMap() {
        Map<String, String> map = new LinkedHashMap<>();
        for (String entry : hostMaps) {
            String[] pair = split("--map", entry);
            String earlier = map.put(ZkLayout.checkName("host", pair[0]), ZkLayout.checkName("host", pair[1]));
            if (earlier != null) {
                throw new CommandLine.ParameterException(spec.commandLine(), "--map names host " + pair[0] + " twice ("
                        + pair[0] + "=" + earlier + ", " + entry + ")");
            }
        }
        return map;
    }

    private List<PathMapping> pathMappings() {
        List<PathMapping> maps = new ArrayList<>();
        for (String entry : pathMaps) {
            String[] pair = split("--path-map", entry);
            if (!pair[0].startsWith("/") || !pair[1].startsWith("/")) {
                throw new CommandLine.ParameterException(spec.commandLine(),
                        "--path-map '" + entry + "': both sides must be absolute paths");
            }
            if ((pair[0] + "/" + pair[1] + "/").contains("/../")) {
                throw new CommandLine.ParameterException(spec.commandLine(),
                        "--path-map '" + entry + "': no '..' in a path");
            }
            maps.add(PathMapping.newBuilder().setFrom(pair[0]).setTo(pair[1]).build());
        }
        return maps;
    }

    private String[] split(String option, String entry) {
        int eq = entry.indexOf('=');
        if (eq <= 0 || eq == entry.length() - 1) {
            throw new CommandLine.ParameterException(spec.commandLine(),
                    option + " '" + entry + "' is not of the form OLD=NEW");
        }
        return new String[] {entry.substring(0, eq), entry.substring(eq + 1)};
    }

    static String toText(RestoreResult result) {
        StringBuilder text = new StringBuilder("checkpoint " + result.checkpointId() + " of group " + result.group()
                + " restored (op " + result.opId() + ", epoch " + result.epoch() + ", "
                + (result.fastPath() ? "fast path" : "strict global order") + ")\n");
        if (!result.stopped().isEmpty()) {
            text.append("  stopped first (--replace): ").append(RestoreResult.describeStopped(result.stopped())).append('\n');
        }
        result.processesByHost().forEach((host, processes) -> text.append("  host ").append(host).append(": ")
                .append(processes.size()).append(" processes, ").append(result.locksByHost().getOrDefault(host, 0))
                .append(" locks: ").append(processes.stream().map(RestoreCommand::describe)
                        .collect(Collectors.joining(", "))).append('\n'));
        result.serverMatchesByHost().forEach((host, matches) -> matches.forEach(match -> text.append("  host ")
                .append(host).append(": ").append(ValidationReport.describe(match)).append('\n')));
        text.append("  phases ").append(result.phaseMicros().entrySet().stream()
                .map(phase -> phase.getKey() + " " + HumanFormat.micros(phase.getValue()))
                .collect(Collectors.joining(", ")));
        return text.toString();
    }

    private static String describe(StagedProcess process) {
        return process.getSourceHostId() + "/" + process.getOldPid() + " -> " + process.getNewPid();
    }

    private static Map<String, Object> toJson(RestoreResult result) {
        Map<String, Object> json = JsonText.object();
        json.put("checkpointId", result.checkpointId());
        json.put("group", result.group());
        json.put("opId", result.opId());
        json.put("epoch", result.epoch());
        json.put("fastPath", result.fastPath());
        Map<String, Object> hosts = new LinkedHashMap<>();
        result.processesByHost().forEach((host, processes) -> {
            Map<String, Object> h = JsonText.object();
            h.put("locks", result.locksByHost().getOrDefault(host, 0));
            List<Map<String, Object>> list = new ArrayList<>();
            for (StagedProcess p : processes) {
                Map<String, Object> entry = JsonText.object();
                entry.put("sourceHostId", p.getSourceHostId());
                entry.put("oldPid", p.getOldPid());
                entry.put("newPid", p.getNewPid());
                list.add(entry);
            }
            h.put("processes", list);
            h.put("serverMatches", result.serverMatchesByHost().getOrDefault(host, List.of()).stream()
                    .map(ValidationReport::describe).toList());
            hosts.put(host, h);
        });
        json.put("hosts", hosts);
        List<Map<String, Object>> stopped = new ArrayList<>();
        result.stopped().forEach(reply -> {
            Map<String, Object> entry = JsonText.object();
            entry.put("hostId", reply.getHostId());
            entry.put("terminated", reply.getTerminatedList());
            entry.put("killed", reply.getKilledList());
            stopped.add(entry);
        });
        json.put("stopped", stopped);
        json.put("phaseMs", CheckpointCommand.millis(result.phaseMicros()));
        json.put("releaseFailures", new LinkedHashMap<>(result.releaseFailures()));
        json.put("handOverTimeouts", result.handOverTimeouts());
        return json;
    }
}
