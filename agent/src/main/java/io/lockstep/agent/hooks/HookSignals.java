package io.lockstep.agent.hooks;

import java.util.Locale;
import java.util.Map;

/** Signal names and numbers for {@code agent run --hook-signal} (Linux numbering). */
public final class HookSignals {
    private static final Map<String, Integer> BY_NAME = Map.ofEntries(Map.entry("HUP", 1), Map.entry("INT", 2),
            Map.entry("QUIT", 3), Map.entry("KILL", 9), Map.entry("USR1", 10), Map.entry("USR2", 12), Map.entry("ALRM", 14),
            Map.entry("TERM", 15), Map.entry("CONT", 18), Map.entry("STOP", 19), Map.entry("URG", 23), Map.entry("WINCH", 28),
            Map.entry("PWR", 30));
    private static final int SIGKILL = 9;
    private static final int SIGSTOP = 19;
    private static final int SIGRTMAX = 64;

    private HookSignals() {
    }

    /**
     * USR1, SIGUSR1, usr1 or a number. KILL and STOP are refused: a program cannot answer them.
     *
     * @throws IllegalArgumentException naming what was wrong
     */
    public static int parse(String text) {
        String name = text.trim().toUpperCase(Locale.ROOT);
        if (name.startsWith("SIG")) {
            name = name.substring(3);
        }
        Integer number = BY_NAME.get(name);
        if (number == null) {
            try {
                number = Integer.parseInt(name);
            } catch (NumberFormatException e) {
                throw new IllegalArgumentException("unknown signal " + text + " (use a name such as USR1, USR2, HUP, "
                        + "or a number 1-" + SIGRTMAX + ")");
            }
        }
        check(number);
        return number;
    }

    /** @throws IllegalArgumentException for a number that is not a signal a program can answer */
    public static void check(int number) {
        if (number < 1 || number > SIGRTMAX) {
            throw new IllegalArgumentException("signal " + number + " is not a signal (1-" + SIGRTMAX + ")");
        }
        if (number == SIGKILL || number == SIGSTOP) {
            throw new IllegalArgumentException("signal " + number + " (" + name(number) + ") cannot be caught, so the "
                    + "program could never answer it");
        }
    }

    /** "SIGUSR1", or "signal 40" for one without a name here. */
    public static String name(int number) {
        return BY_NAME.entrySet().stream().filter(entry -> entry.getValue() == number).map(entry -> "SIG" + entry.getKey())
                .findFirst().orElse("signal " + number);
    }
}
