package io.lockstep.coordinator.cli;

import io.lockstep.cli.DurationConverter;
import io.lockstep.cli.UsageErrors;
import picocli.CommandLine;

import java.time.Duration;

/** Entry point of the {@code coordinator} command. Only {@link #main} exits the JVM; tests call {@link #commandLine()}. */
public final class CoordinatorMain {
    private CoordinatorMain() {
    }

    public static void main(String[] args) {
        // Before anything is written: the caller's umask may be 000, and the store and state hold secrets.
        io.lockstep.files.PrivateFiles.restrictUmask();
        System.exit(commandLine().execute(args));
    }

    /** The full command tree, configured: duration syntax, error reporting and exit codes. */
    public static CommandLine commandLine() {
        CommandLine commandLine = new CommandLine(new RootCommand());
        commandLine.registerConverter(Duration.class, new DurationConverter());
        commandLine.setExecutionExceptionHandler(new ErrorReporter());
        commandLine.setParameterExceptionHandler(new UsageErrors("lockstep", ExitCode.USAGE.code()));
        configure(commandLine);
        return commandLine;
    }

    private static void configure(CommandLine command) {
        command.getCommandSpec()
                .exitCodeOnInvalidInput(ExitCode.USAGE.code())
                .exitCodeOnExecutionException(ExitCode.INTERNAL_ERROR.code())
                .exitCodeOnSuccess(ExitCode.OK.code())
                .exitCodeOnUsageHelp(ExitCode.OK.code())
                .exitCodeOnVersionHelp(ExitCode.OK.code());
        command.getCommandSpec().usageMessage()
                .exitCodeListHeading("%nExit codes:%n")
                .exitCodeList(ExitCode.helpList());
        command.getSubcommands().values().forEach(CoordinatorMain::configure);
    }
}
