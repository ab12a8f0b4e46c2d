package io.lockstep.coordinator.cli;

import io.lockstep.cli.JsonText;
import io.lockstep.proto.HostRecord;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Spec;

import java.io.PrintWriter;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.concurrent.Callable;

@Command(name = "status", mixinStandardHelpOptions = true,
        description = {
                "Shows the cluster as ZooKeeper sees it: live agents (endpoint, version), groups with the hosts "
                        + "that have their processes, each group's latest checkpoint, who holds its operation "
                        + "lock, and operations in progress with the barrier phase they reached."})
final class StatusCommand implements Callable<Integer> {
    @Spec
    CommandSpec spec;

    @Mixin
    ConnectionOptions connection;

    @Option(names = "--json", description = "Print the status as JSON on stdout.")
    boolean json;

    @Override
    public Integer call() throws Exception {
        try (CoordinatorSession session = CoordinatorSession.open(connection, spec.commandLine().getErr())) {
            ClusterStatus status = ClusterStatus.read(session.context());
            PrintWriter out = spec.commandLine().getOut();
            out.print(json ? JsonText.print(toJson(status)) + "\n" : toText(status));
            out.flush();
        }
        return ExitCode.OK.code();
    }

    private static String toText(ClusterStatus status) {
        StringBuilder text = new StringBuilder();
        text.append("hosts: ").append(status.hosts().size()).append(" alive\n");
        for (HostRecord host : status.hosts()) {
            text.append(String.format(Locale.ROOT, "  %-20s %-22s version %s%s%n", host.getHostId(), host.getEndpoint(),
                    host.getVersion(), host.getCapabilitiesCount() == 0 ? ""
                            : "  [" + String.join(", ", host.getCapabilitiesList()) + "]"));
        }
        text.append("groups: ").append(status.groups().size()).append('\n');
        for (ClusterStatus.GroupStatus group : status.groups()) {
            text.append("  ").append(group.group())
                    .append("  members: ").append(group.members().isEmpty() ? "none" : String.join(", ", group.members()))
                    .append("  latest: ").append(group.latest().orElse("none")).append('\n');
            group.lockHolder().ifPresent(holder -> text.append("    locked by coordinator ")
                    .append(holder.getCoordinatorId()).append(" (host ").append(holder.getHostname()).append(", pid ")
                    .append(holder.getPid()).append(") since ").append(HumanFormat.timestamp(holder.getSinceUnixMs()))
                    .append(holder.getOpId().isEmpty() ? "" : " for " + holder.getOpId()).append('\n'));
            for (ClusterStatus.RunningOp op : group.operations()) {
                text.append("    op ").append(op.record().getOpId()).append(" (")
                        .append(op.record().getKind().name().toLowerCase(Locale.ROOT)).append(", epoch ")
                        .append(op.record().getEpoch()).append(") ").append(phaseText(op)).append('\n');
            }
        }
        return text.toString();
    }

    private static String phaseText(ClusterStatus.RunningOp op) {
        int participants = op.record().getParticipantsCount();
        return op.phase().map(phase -> phase.node() + " " + op.reached() + "/" + participants + " hosts")
                .orElse("opened, no host in a barrier yet (" + participants + " hosts)");
    }

    private static Map<String, Object> toJson(ClusterStatus status) {
        Map<String, Object> json = JsonText.object();
        json.put("hosts", status.hosts());
        List<Object> groups = new ArrayList<>();
        for (ClusterStatus.GroupStatus group : status.groups()) {
            Map<String, Object> entry = JsonText.object();
            entry.put("group", group.group());
            entry.put("members", group.members());
            entry.put("latestId", group.latest().orElse(null));
            entry.put("lockHolder", group.lockHolder().orElse(null));
            List<Object> operations = new ArrayList<>();
            for (ClusterStatus.RunningOp op : group.operations()) {
                Map<String, Object> running = JsonText.object();
                running.put("op", op.record());
                running.put("phase", op.phase().map(phase -> phase.node()).orElse(null));
                running.put("hostsInPhase", op.reached());
                operations.add(running);
            }
            entry.put("operations", operations);
            groups.add(entry);
        }
        json.put("groups", groups);
        return json;
    }
}
