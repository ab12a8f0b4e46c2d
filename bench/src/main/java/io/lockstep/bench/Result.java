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

    public static Result of(String suite, String caseName, String metric, double value, String unit, double floor,
                            String notes) {
        return new Result(suite, caseName, metric, value, unit, floor, floor > 0 ? value / floor : Double.NaN, notes);
    }
}
