package io.lockstep.coordinator.schedules;

import java.util.LinkedHashMap;
import java.util.Map;

/** Where a cycle's (or a set-up's) time went: wall-clock milliseconds per named section, in order. */
final class Laps {
    private final long startNanos = System.nanoTime();
    private long lastNanos = startNanos;
    private final Map<String, Long> millis = new LinkedHashMap<>();

    /** Ends the current section under {@code section} (summed if it recurs) and starts the next. */
    void lap(String section) {
        long now = System.nanoTime();
        millis.merge(section, (now - lastNanos) / 1_000_000, Long::sum);
        lastNanos = now;
    }

    /** Up to the end of the last section. */
    long totalMillis() {
        return (lastNanos - startNanos) / 1_000_000;
    }

    Map<String, Long> millis() {
        return millis;
    }

    static String seconds(long millis) {
        return String.format("%.1f", millis / 1000.0);
    }

    @Override
    public String toString() {
        StringBuilder text = new StringBuilder(seconds(totalMillis())).append(" s (");
        millis.forEach((section, ms) -> text.append(section).append(' ').append(seconds(ms)).append(", "));
        text.setLength(text.length() - 2);
        return text.append(')').toString();
    }
}
