package io.lockstep.coordinator.cli;

import picocli.CommandLine;

import java.io.PrintWriter;

/**
 * Bad arguments: one line saying what is wrong (plus picocli's "did you mean" suggestions) and
 * where the help is, instead of the whole usage text burying the error.
 */
final class UsageErrorReporter implements CommandLine.IParameterExceptionHandler {
    @Override
    public int handleParseException(CommandLine.ParameterException failure, String[] args) {
        CommandLine command = failure.getCommandLine();
        PrintWriter err = command.getErr();
        err.println("lockstep: " + failure.getMessage());
        CommandLine.UnmatchedArgumentException.printSuggestions(failure, err);
        err.println("see `" + command.getCommandSpec().qualifiedName() + " --help`");
        err.flush();
        return ExitCode.USAGE.code();
    }
}
