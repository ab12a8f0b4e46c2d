package io.lockstep.coordinator.cli;

import java.time.Instant;
import java.time.ZoneOffset;
import java.time.format.DateTimeFormatter;
import java.util.Locale;

/** Times and sizes as an operator reads them. */
final class HumanFormat {
    private static final DateTimeFormatter TIMESTAMP = DateTimeFormatter.ofPattern("yyyy-MM-dd HH:mm:ss'Z'")
            .withZone(ZoneOffset.UTC);

    private HumanFormat() {
    }

    /** A duration measured in µs, shown in one unit everywhere: milliseconds ("0.830 ms", "1.5 ms", "1234.5 ms"). */
    static String micros(long micros) {
        return String.format(Locale.ROOT, micros < 1_000 ? "%.3f ms" : "%.1f ms", micros / 1_000.0);
    }

    /** "10s", "15m", "1h30m", "250ms": the form the duration options take. */
    static String duration(java.time.Duration duration) {
        long millis = duration.toMillis();
        if (millis == 0 || millis % 1000 != 0) {
            return millis + "ms";
        }
        long seconds = millis / 1000;
        StringBuilder text = new StringBuilder();
        if (seconds >= 3600) {
            text.append(seconds / 3600).append('h');
            seconds %= 3600;
        }
        if (seconds >= 60) {
            text.append(seconds / 60).append('m');
            seconds %= 60;
        }
        if (seconds > 0) {
            text.append(seconds).append('s');
        }
        return text.toString();
    }

    static String timestamp(long unixMillis) {
        return TIMESTAMP.format(Instant.ofEpochMilli(unixMillis));
    }

    static String bytes(long bytes) {
        if (bytes < 1024) {
            return bytes + " B";
        }
        if (bytes < 1024 * 1024) {
            return String.format(Locale.ROOT, "%.1f KiB", bytes / 1024.0);
        }
        return String.format(Locale.ROOT, "%.1f MiB", bytes / (1024.0 * 1024));
    }
}
