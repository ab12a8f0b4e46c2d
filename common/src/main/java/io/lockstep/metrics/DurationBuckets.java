package io.lockstep.metrics;

import java.time.Duration;

/** Histogram buckets of phase durations and frozen windows, agent and coordinator alike: 5 ms to a minute. */
public final class DurationBuckets {
    private DurationBuckets() {
    }

    public static Duration[] get() {
        return new Duration[] {Duration.ofMillis(5), Duration.ofMillis(10), Duration.ofMillis(25), Duration.ofMillis(50),
                Duration.ofMillis(100), Duration.ofMillis(250), Duration.ofMillis(500), Duration.ofSeconds(1),
                Duration.ofMillis(2500), Duration.ofSeconds(5), Duration.ofSeconds(10), Duration.ofSeconds(30),
                Duration.ofSeconds(60)};
    }
}
