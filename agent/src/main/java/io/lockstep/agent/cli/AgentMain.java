package io.lockstep.agent.cli;

import picocli.CommandLine;
import picocli.CommandLine.Command;

/** {@code agent}: the Lockstep daemon and its local tools. Only {@link #main} exits the JVM. */
@Command(name = "agent", mixinStandardHelpOptions = true, versionProvider = AgentMain.Version.class,
        description = {
            "Lockstep agent: runs on every host as root, owns the host's part of each process group (one cgroup per",
            "group), freezes, captures and restores it when a coordinator asks.",
            "",
            "Exit codes: 0 ok, 1 internal error, 2 bad arguments, 3 operation failed, 5 ZooKeeper unreachable,",
            "10 agent unreachable."},
        subcommands = {ServeCommand.class, RunCommand.class, AdoptCommand.class, CaptureCommand.class,
            PrintCommand.class, StatusCommand.class, CommandLine.HelpCommand.class})
public final class AgentMain {
    static final int OK = 0;
    static final int INTERNAL_ERROR = 1;
    static final int BAD_ARGUMENTS = 2;
    static final int FAILED = 3;
    static final int ZK_UNREACHABLE = 5;
    static final int AGENT_UNREACHABLE = 10;

    public static CommandLine commandLine() {
        CommandLine cli = new CommandLine(new AgentMain());
        cli.setExecutionExceptionHandler((error, command, parsed) -> {
            command.getErr().println("agent: " + error.getMessage());
            return INTERNAL_ERROR;
        });
        return cli;
    }

    public static void main(String[] args) {
        System.exit(commandLine().execute(args));
    }

    static final class Version implements CommandLine.IVersionProvider {
        @Override
        public String[] getVersion() {
            String version = AgentMain.class.getPackage().getImplementationVersion();
            return new String[] {"lockstep agent " + (version == null ? "dev" : version)};
        }
    }
}
