package io.lockstep.bench.harness;

import java.util.Arrays;

/** Durations of repeated runs, in nanoseconds. */
public final class Samples {
    private final long[] sorted;

    public Samples(long[] nanos) {
        if (nanos.length == 0) {
            throw new IllegalArgumentException("no samples");
        }
        this.sorted = nanos.clone();
        Arrays.sort(sorted);
    }

    public int count() {
        return sorted.length;
    }

    public double medianMillis() {
        return percentileMillis(50);
    }

    public double p90Millis() {
        return percentileMillis(90);
    }

    /** Nearest-rank percentile: a value that was really measured, no interpolation. */
    public double percentileMillis(int percent) {
        int rank = (int) Math.ceil(percent / 100.0 * sorted.length);
        return sorted[Math.max(0, rank - 1)] / 1e6;
    }
}
