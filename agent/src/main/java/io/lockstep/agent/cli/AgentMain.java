package io.lockstep.agent.cli;

import io.lockstep.cli.JsonText;
import io.lockstep.cli.UsageErrors;
import picocli.CommandLine;
import picocli.CommandLine.Command;

import java.util.LinkedHashMap;
import java.util.Map;

/** {@code agent}: the Lockstep daemon and its local tools. Only {@link #main} exits the JVM. */
@Command(name = "agent", mixinStandardHelpOptions = true, versionProvider = AgentMain.Version.class,
        description = "Lockstep agent: runs on every host as root, owns the host's part of each process group (one "
                + "cgroup per group), freezes, captures and restores it when a coordinator asks.",
        subcommands = {ServeCommand.class, RunCommand.class, AdoptCommand.class, CaptureCommand.class,
            PrintCommand.class, StatusCommand.class, CommandLine.HelpCommand.class})
public final class AgentMain {
    public static final int OK = 0;
    public static final int INTERNAL_ERROR = 1;
    public static final int BAD_ARGUMENTS = 2;
    public static final int FAILED = 3;
    public static final int ZK_UNREACHABLE = 5;
    public static final int AGENT_UNREACHABLE = 10;

    /** Every command's help ends with these. */
    private static final Map<String, String> EXIT_CODES = exitCodes();

    public static CommandLine commandLine() {
        CommandLine cli = new CommandLine(new AgentMain());
        cli.setExecutionExceptionHandler((error, command, parsed) -> {
            if (command.getParseResult() != null && command.getParseResult().hasMatchedOption("--json")) {
                command.getOut().println(JsonText.error(INTERNAL_ERROR, "INTERNAL_ERROR", String.valueOf(error.getMessage())));
                command.getOut().flush();
            }
            command.getErr().println("agent: " + error.getMessage());
            return INTERNAL_ERROR;
        });
        cli.setParameterExceptionHandler(new UsageErrors("agent", BAD_ARGUMENTS));
        listExitCodes(cli);
        return cli;
    }

    private static void listExitCodes(CommandLine command) {
        command.getCommandSpec().usageMessage().exitCodeListHeading("%nExit codes:%n").exitCodeList(EXIT_CODES);
        command.getSubcommands().values().forEach(AgentMain::listExitCodes);
    }

    private static Map<String, String> exitCodes() {
        Map<String, String> codes = new LinkedHashMap<>();
        codes.put(Integer.toString(OK), "ok");
        codes.put(Integer.toString(INTERNAL_ERROR), "internal error");
        codes.put(Integer.toString(BAD_ARGUMENTS), "bad arguments");
        codes.put(Integer.toString(FAILED), "operation failed (e.g. unknown group, damaged manifest)");
        codes.put(Integer.toString(ZK_UNREACHABLE), "ZooKeeper unreachable");
        codes.put(Integer.toString(AGENT_UNREACHABLE), "agent unreachable");
        return codes;
    }

    public static void main(String[] args) {
        // Before anything is written: the caller's umask may be 000, and specs, logs and manifests hold secrets.
        io.lockstep.files.PrivateFiles.restrictUmask();
        // names are bytes: `agent run -- cmd args…` passes them on exactly, whatever the locale
        System.exit(commandLine().execute(RawArgs.of(args)));
    }

    static final class Version implements CommandLine.IVersionProvider {
        @Override
        public String[] getVersion() {
            String version = AgentMain.class.getPackage().getImplementationVersion();
            return new String[] {"lockstep agent " + (version == null ? "dev" : version)};
        }
    }
}
