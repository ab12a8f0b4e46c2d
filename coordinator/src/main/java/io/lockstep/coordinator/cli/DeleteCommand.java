package io.lockstep.coordinator.cli;

import io.lockstep.coordinator.catalog.Catalog;
import io.lockstep.coordinator.catalog.CheckpointSnapshots;
import io.lockstep.coordinator.catalog.KnownGroups;
import io.lockstep.zk.ZkLayout;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;
import picocli.CommandLine.Spec;

import java.io.PrintWriter;
import java.util.List;
import java.util.concurrent.Callable;

@Command(name = "delete", mixinStandardHelpOptions = true,
        description = {
                "Deletes one checkpoint by id (`latest` then moves to the newest remaining one), or applies "
                        + "retention with --keep N: keeps the newest N committed checkpoints and never the one "
                        + "`latest` points to, and removes aborted leftovers from the store.",
                "A deleted checkpoint's snapshots are deleted by the agents that took them; those of a host that is "
                        + "down stay recorded and are named, and the next delete or retention of the group (or that "
                        + "agent, when it starts) deletes them.",
                "Takes the group's operation lock: it fails (exit 6) while a checkpoint or restore runs."})
final class DeleteCommand implements Callable<Integer> {
    @Spec
    CommandSpec spec;

    @Mixin
    ConnectionOptions connection;

    @Option(names = "--group", required = true, paramLabel = "GROUP", description = "The checkpoint's group.")
    String group;

    @Parameters(index = "0", arity = "0..1", paramLabel = "ID", description = "The checkpoint to delete.")
    String id;

    @Option(names = "--keep", paramLabel = "N", description = "Keep the newest N checkpoints, delete the older ones.")
    Integer keep;

    @Override
    public Integer call() throws Exception {
        ZkLayout.checkName("group", group);
        if ((id == null) == (keep == null)) {
            throw new CommandLine.ParameterException(spec.commandLine(), "give either a checkpoint ID or --keep N");
        }
        if (keep != null && keep < 0) {
            throw new CommandLine.ParameterException(spec.commandLine(), "--keep must be 0 or more, got " + keep);
        }
        try (CoordinatorSession session = CoordinatorSession.open(connection, spec.commandLine().getErr(),
                CoordinatorSession.StoreUse.ACT)) {
            new KnownGroups(session.context()).require(group);
            Catalog catalog = session.catalog();
            PrintWriter out = spec.commandLine().getOut();
            if (id != null) {
                Catalog.Deleted deleted = catalog.delete(group, id);
                out.println("deleted checkpoint " + deleted.entry().getCheckpointId() + " of group " + group
                        + "; latest is now " + catalog.latestId(group).orElse("none"));
                report(deleted.snapshots());
            } else {
                Catalog.Retention retention = catalog.retain(group, keep);
                out.println("group " + group + ": deleted " + describe(retention.deletedCheckpoints())
                        + "; removed aborted leftovers " + describe(retention.removedLeftovers())
                        + "; removed op records " + describe(retention.removedOpRecords())
                        + "; latest is " + catalog.latestId(group).orElse("none"));
                retention.unreadable().forEach(problem -> spec.commandLine().getErr().println("lockstep: kept checkpoint "
                        + problem + " — its manifests are not in store " + session.context().store().uri()
                        + "; delete it by id once it is known to be lost"));
                report(retention.snapshots());
            }
            out.flush();
        }
        return ExitCode.OK.code();
    }

    /** Snapshots deleted on stdout; the ones left, and where, on stderr. */
    private void report(CheckpointSnapshots.Outcome snapshots) {
        snapshots.deleted().forEach(line -> spec.commandLine().getOut().println("deleted snapshots of " + line));
        snapshots.left().forEach(line -> spec.commandLine().getErr().println("lockstep: snapshots of " + line));
        snapshots.unknown().forEach(line -> spec.commandLine().getErr().println("lockstep: " + line));
    }

    private static String describe(List<String> ids) {
        return ids.isEmpty() ? "none" : String.join(", ", ids);
    }
}
