package io.lockstep.coordinator.cli;

import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.ScopeType;
import picocli.CommandLine.Spec;

import java.util.concurrent.Callable;

@Command(name = "coordinator", mixinStandardHelpOptions = true, versionProvider = VersionProvider.class,
        description = {
                "Lockstep coordinator: takes coordinated checkpoints of an application that runs as process groups "
                        + "on several hosts sharing files and POSIX locks, and keeps their catalog.",
                "",
                "Every host runs a Lockstep agent; agents and coordinators meet in ZooKeeper (--zk, or "
                        + "$LOCKSTEP_ZK; with neither, a local ZooKeeper is started in the state directory so "
                        + "that one machine works with no set-up). Manifests are kept in the store (--store)."},
        subcommands = {
                CheckpointCommand.class,
                RestoreCommand.class,
                ServeCommand.class,
                ListCommand.class,
                ShowCommand.class,
                StatusCommand.class,
                DeleteCommand.class,
                DropMemberCommand.class,
                DataPathCommand.class,
                ZooKeeperCommand.class,
                TlsCommand.class,
                CompletionCommand.class,
                CommandLine.HelpCommand.class})
final class RootCommand implements Callable<Integer> {
    @Spec
    CommandSpec spec;

    @Option(names = {"-v", "--verbose"}, scope = ScopeType.INHERIT,
            description = "Log what Lockstep does (info level) to stderr; errors also show their stack trace.")
    void verbose(boolean on) {
        Logging.setVerbose(on);
    }

    @Override
    public Integer call() {
        throw new CommandLine.ParameterException(spec.commandLine(), "a command is required; see `coordinator --help`");
    }
}
