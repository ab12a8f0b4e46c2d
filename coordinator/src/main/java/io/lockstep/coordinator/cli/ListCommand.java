package io.lockstep.coordinator.cli;

import io.lockstep.cli.JsonText;
import io.lockstep.coordinator.catalog.Catalog;
import io.lockstep.coordinator.catalog.KnownGroups;
import io.lockstep.proto.CatalogEntry;
import io.lockstep.zk.ZkLayout;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Spec;

import java.io.PrintWriter;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.Callable;

@Command(name = "list", mixinStandardHelpOptions = true,
        description = "Lists the committed checkpoints of a group, oldest first, and marks the one `latest` points to "
                + "(what a restore uses by default).")
final class ListCommand implements Callable<Integer> {
    /** The columns after the id, whose width is the longest id's. */
    private static final String ROW_AFTER_ID = " %6s  %-20s %5s %6s %6s %6s %10s%n";

    @Spec
    CommandSpec spec;

    @Mixin
    ConnectionOptions connection;

    @Option(names = "--group", required = true, paramLabel = "GROUP", description = "The group whose checkpoints to list.")
    String group;

    @Option(names = "--json", description = "Print the catalog entries as JSON on stdout.")
    boolean json;

    @Override
    public Integer call() throws Exception {
        ZkLayout.checkName("group", group);
        try (CoordinatorSession session = CoordinatorSession.open(connection, spec.commandLine().getErr(),
                CoordinatorSession.StoreUse.NONE)) {
            new KnownGroups(session.context()).require(group);
            Catalog catalog = session.catalog();
            List<CatalogEntry> entries = catalog.list(group);
            Optional<String> latest = catalog.latestId(group);
            PrintWriter out = spec.commandLine().getOut();
            if (json) {
                Map<String, Object> result = JsonText.object();
                result.put("group", group);
                result.put("latestId", latest.orElse(null));
                result.put("checkpoints", entries);
                out.println(JsonText.print(result));
            } else if (entries.isEmpty()) {
                out.println("group " + group + " has no checkpoints");
            } else {
                printTable(out, entries, latest);
            }
            out.flush();
        }
        return ExitCode.OK.code();
    }

    private static void printTable(PrintWriter out, List<CatalogEntry> entries, Optional<String> latest) {
        int idWidth = Math.max(2, entries.stream().mapToInt(entry -> entry.getCheckpointId().length()).max().orElse(0));
        String row = "%-" + idWidth + "s" + ROW_AFTER_ID;
        out.printf(Locale.ROOT, row, "ID", "EPOCH", "CREATED", "HOSTS", "PROCS", "LOCKS", "FILES", "FROZEN");
        for (CatalogEntry entry : entries) {
            boolean isLatest = latest.map(entry.getCheckpointId()::equals).orElse(false);
            out.printf(Locale.ROOT, row.replace("%n", isLatest ? "  (latest)%n" : "%n"), entry.getCheckpointId(),
                    entry.getEpoch(), HumanFormat.timestamp(entry.getCreatedUnixMs()), entry.getManifestsCount(),
                    entry.getProcesses(), entry.getLocks(), entry.getFiles(),
                    entry.getFrozenWindowMs() == 0 ? "-" : entry.getFrozenWindowMs() + " ms");
        }
    }
}
