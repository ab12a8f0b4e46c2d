package io.lockstep.bench;

/**
 * One figure and the floor it is judged against, both measured in the same run.
 *
 * @param metric what was measured and which statistic, e.g. {@code capture-median}
 * @param floor the same statistic of the least work any implementation must do
 * @param ratio value / floor: how far the implementation is from that minimum
 * @param notes sample counts, sizes, anything a reader needs to trust the figure
 */
public record Result(String suite, String caseName, String metric, double value, String unit, double floor,
                     double ratio, String notes) {

    /** A case that could not be measured; its reason is in the notes. */
    public static final String FAILED = "failed";

    public static Result failure(String suite, String caseName, Exception reason) {
        return new Result(suite, caseName, FAILED, Double.NaN, "", Double.NaN, Double.NaN, reason.toString());
    }

    public boolean failed() {
        return metric.equals(FAILED);
    }

    public static Result of(String suite, String caseName, String metric, double value, String unit, double floor,
                            String notes) {
        return new Result(suite, caseName, metric, value, unit, floor, floor > 0 ? value / floor : Double.NaN, notes);
    }
}
