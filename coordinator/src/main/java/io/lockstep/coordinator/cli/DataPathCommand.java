package io.lockstep.coordinator.cli;

import io.lockstep.proto.DataPathRecord;
import io.lockstep.zk.DataPaths;
import io.lockstep.zk.ZkLayout;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;

import java.io.PrintWriter;
import java.util.List;

@Command(name = "data-path", mixinStandardHelpOptions = true,
        description = {"Declares the paths whose content a checkpoint snapshots inside its frozen window and a restore "
                + "rolls back (besides every file the group holds open on a network file system).",
                "Engines: btrfs (read-only subvolume snapshot), reflink (a clone of each file: XFS reflink=1, btrfs, "
                        + "NFS 4.2), copy (content-addressed into the agent's state directory, only changed files, "
                        + "bounded by --copy-max-bytes), command (your snapshot, roll-back and delete commands). "
                        + "Without --engine the agent picks btrfs, else reflink, else copy."},
        subcommands = {DataPathCommand.Add.class, DataPathCommand.ListPaths.class, DataPathCommand.Remove.class})
final class DataPathCommand {
    @Command(name = "add", mixinStandardHelpOptions = true,
            description = "Declares a data path of a group (or replaces its declaration); later checkpoints snapshot it.")
    static final class Add extends OnDataPaths {
        @Parameters(index = "0", paramLabel = "PATH", description = "An absolute directory or file.")
        String path;

        @Option(names = "--engine", paramLabel = "ENGINE", description = "reflink, btrfs, command or copy; default: the best "
                + "the agent finds for the path's file system.")
        String engine = "";

        @Option(names = "--snapshot-command", paramLabel = "CMD", description = "command engine: takes the snapshot "
                + "({id} = checkpoint id, {path} = the data path, both shell-quoted).")
        String snapshotCommand = "";

        @Option(names = "--rollback-command", paramLabel = "CMD", description = "command engine: puts the data path back.")
        String rollbackCommand = "";

        @Option(names = "--delete-command", paramLabel = "CMD", description = "command engine: deletes the snapshot.")
        String deleteCommand = "";

        @Option(names = "--copy-max-bytes", paramLabel = "BYTES", description = "copy engine: refuse a checkpoint that "
                + "would copy more than this inside its window (default: the agent's, 1 GiB).")
        long copyMaxBytes;

        @Override
        public Integer call() throws Exception {
            ZkLayout.checkName("group", group);
            DataPathRecord record = DataPaths.validate(DataPathRecord.newBuilder().setPath(path).setEngine(engine)
                    .setSnapshotCommand(snapshotCommand).setRollbackCommand(rollbackCommand)
                    .setDeleteCommand(deleteCommand).setCopyMaxBytes(copyMaxBytes).build());
            return onDataPaths((dataPaths, out) -> {
                boolean replaced = dataPaths.put(group, record);
                out.println((replaced ? "replaced" : "added") + " data path " + path + " of group " + group + " (engine "
                        + (engine.isEmpty() ? "chosen by the agent" : engine) + ")");
            });
        }
    }

    @Command(name = "list", mixinStandardHelpOptions = true, description = "Lists a group's data paths.")
    static final class ListPaths extends OnDataPaths {
        @Override
        public Integer call() throws Exception {
            ZkLayout.checkName("group", group);
            return onDataPaths((dataPaths, out) -> {
                List<DataPathRecord> records = dataPaths.list(group);
                if (records.isEmpty()) {
                    out.println("group " + group + " has no data paths");
                }
                for (DataPathRecord r : records) {
                    out.println(r.getPath() + "  engine " + (r.getEngine().isEmpty() ? "(best available)" : r.getEngine())
                            + (r.getCopyMaxBytes() > 0 ? "  copy-max-bytes " + r.getCopyMaxBytes() : ""));
                }
            });
        }
    }

    @Command(name = "remove", mixinStandardHelpOptions = true,
            description = "Removes a data path of a group; existing checkpoints keep their snapshots of it.")
    static final class Remove extends OnDataPaths {
        @Parameters(index = "0", paramLabel = "PATH", description = "The data path as declared.")
        String path;

        @Override
        public Integer call() throws Exception {
            ZkLayout.checkName("group", group);
            return onDataPaths((dataPaths, out) -> {
                boolean removed = dataPaths.remove(group, path);
                out.println(removed ? "removed data path " + path + " of group " + group
                        : "group " + group + " has no data path " + path + "; nothing removed");
            });
        }
    }

    /** A data-path subcommand: reads or changes the group's data paths in ZooKeeper, without the checkpoint store. */
    abstract static class OnDataPaths extends GroupCommand {
        /** Runs the step on the group's data paths and flushes what it printed. */
        final Integer onDataPaths(DataPathsStep step) throws Exception {
            try (CoordinatorSession session = CoordinatorSession.open(connection, spec.commandLine().getErr(),
                    CoordinatorSession.StoreUse.NONE)) {
                PrintWriter out = spec.commandLine().getOut();
                step.run(new DataPaths(session.context().zk(), session.context().layout()), out);
                out.flush();
            }
            return ExitCode.OK.code();
        }
    }

    @FunctionalInterface
    interface DataPathsStep {
        void run(DataPaths dataPaths, PrintWriter out) throws Exception;
    }
}
