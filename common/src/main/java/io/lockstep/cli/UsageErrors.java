package io.lockstep.cli;

import picocli.CommandLine;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Model.OptionSpec;

import java.io.PrintWriter;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;

/**
 * Bad arguments, for the agent and the coordinator alike: one line saying what is wrong and where
 * the help is, instead of the whole usage text burying the error. A mistyped option is named
 * first, with the option it probably meant ("unknown option --gruop (did you mean --group?)"),
 * even when picocli's own complaint is a required option it then found missing; an option that
 * belongs to a command given without {@code --} says so. With {@code --json} among the arguments
 * the error is also a JSON object on stdout ({@link JsonText#error}).
 */
public final class UsageErrors implements CommandLine.IParameterExceptionHandler {
    private final String prefix;
    private final int exitCode;

    /** @param prefix what each line starts with ("lockstep", "agent") */
    public UsageErrors(String prefix, int exitCode) {
        this.prefix = prefix;
        this.exitCode = exitCode;
    }

    @Override
    public int handleParseException(CommandLine.ParameterException failure, String[] args) {
        CommandLine command = failure.getCommandLine();
        PrintWriter err = command.getErr();
        Optional<String> unknownOption = unknownOptionMessage(command.getCommandSpec(), args);
        String message = unknownOption.orElse(failure.getMessage());
        if (asksForJson(args)) {
            command.getOut().println(JsonText.error(exitCode, "USAGE", message));
            command.getOut().flush();
        }
        err.println(prefix + ": " + message);
        if (unknownOption.isEmpty()) {
            CommandLine.UnmatchedArgumentException.printSuggestions(failure, err);
        }
        err.println("see `" + command.getCommandSpec().qualifiedName() + " --help`");
        err.flush();
        return exitCode;
    }

    static Optional<String> unknownOptionMessage(CommandSpec spec, String[] args) {
        return firstUnknownOption(spec, args).map(option -> {
            String text = "unknown option " + option.name();
            Optional<String> meant = closest(spec, option.name());
            if (meant.isPresent()) {
                return text + " (did you mean " + meant.get() + "?)";
            }
            if (option.afterPositional() && !spec.positionalParameters().isEmpty()) {
                return text + ": if it is the command's own, put `--` before the command (`"
                        + spec.qualifiedName() + " [OPTIONS] -- COMMAND " + option.name() + " …`)";
            }
            return text;
        });
    }

    private static boolean asksForJson(String[] args) {
        for (String arg : args) {
            if (arg.equals("--")) {
                return false;
            }
            if (arg.equals("--json")) {
                return true;
            }
        }
        return false;
    }

    record UnknownOption(String name, boolean afterPositional) {
    }

    /**
     * The first argument of {@code spec}'s command that looks like an option but is none of its
     * options (nor a subcommand name or value of one), up to {@code --}.
     */
    static Optional<UnknownOption> firstUnknownOption(CommandSpec spec, String[] args) {
        int start = indexAfterCommandName(spec, args);
        boolean positionalSeen = false;
        for (int i = start; i < args.length; i++) {
            String arg = args[i];
            if (arg.equals("--")) {
                return Optional.empty();
            }
            if (arg.startsWith("-") && arg.length() > 1 && !isNumber(arg)) {
                String name = arg.contains("=") ? arg.substring(0, arg.indexOf('=')) : arg;
                OptionSpec option = spec.findOption(name);
                if (option == null) {
                    return Optional.of(new UnknownOption(name, positionalSeen));
                }
                if (option.arity().max() > 0 && !arg.contains("=")) {
                    i += 1;
                }
            } else {
                positionalSeen = true;
            }
        }
        return Optional.empty();
    }

    /** Arguments are the whole command line: this command's own start after its name. */
    private static int indexAfterCommandName(CommandSpec spec, String[] args) {
        List<String> names = new ArrayList<>();
        for (CommandSpec s = spec; s.parent() != null; s = s.parent()) {
            names.add(0, s.name());
        }
        int i = 0;
        for (String name : names) {
            while (i < args.length && !args[i].equals(name)) {
                i++;
            }
            i++;
        }
        return Math.min(i, args.length);
    }

    private static boolean isNumber(String arg) {
        return arg.matches("-\\d+(\\.\\d+)?");
    }

    /** The option whose name is nearest to the typo: edit distance at most 2, or one of them starts the other. */
    static Optional<String> closest(CommandSpec spec, String typo) {
        String best = null;
        int bestDistance = Integer.MAX_VALUE;
        for (OptionSpec option : spec.options()) {
            for (String name : option.names()) {
                if (!name.startsWith("--") || !typo.startsWith("--")) {
                    continue;
                }
                int distance = distance(typo, name);
                if ((distance <= 2 || (typo.length() > 3 && name.startsWith(typo))) && distance < bestDistance) {
                    best = name;
                    bestDistance = distance;
                }
            }
        }
        return Optional.ofNullable(best);
    }

    /** Damerau-Levenshtein (optimal string alignment): a swap of two letters counts one, as in "gruop". */
    static int distance(String a, String b) {
        int[][] d = new int[a.length() + 1][b.length() + 1];
        for (int i = 0; i <= a.length(); i++) {
            d[i][0] = i;
        }
        for (int j = 0; j <= b.length(); j++) {
            d[0][j] = j;
        }
        for (int i = 1; i <= a.length(); i++) {
            for (int j = 1; j <= b.length(); j++) {
                int cost = a.charAt(i - 1) == b.charAt(j - 1) ? 0 : 1;
                d[i][j] = Math.min(Math.min(d[i - 1][j] + 1, d[i][j - 1] + 1), d[i - 1][j - 1] + cost);
                if (i > 1 && j > 1 && a.charAt(i - 1) == b.charAt(j - 2) && a.charAt(i - 2) == b.charAt(j - 1)) {
                    d[i][j] = Math.min(d[i][j], d[i - 2][j - 2] + 1);
                }
            }
        }
        return d[a.length()][b.length()];
    }
}
