package io.lockstep.bench.harness;

import io.lockstep.bench.Result;
import java.io.PrintStream;
import java.util.List;
import java.util.Locale;

/** The results for a human: every figure with its floor and the ratio between them. */
public final class ResultTable {
    private static final String ROW = "%-8s %-24s %-15s %10s %10s %7s  %s%n";

    private ResultTable() {
    }

    public static void print(PrintStream out, List<Result> results) {
        out.printf(ROW, "suite", "case", "metric", "value", "floor", "ratio", "unit");
        for (Result r : results) {
            if (r.failed()) {
                out.printf("%-8s %-24s FAILED: %s%n", r.suite(), r.caseName(), r.notes());
                continue;
            }
            out.printf(ROW, r.suite(), r.caseName(), r.metric(), format(r.value()), format(r.floor()),
                    Double.isFinite(r.ratio()) ? String.format(Locale.ROOT, "%.2fx", r.ratio()) : "-", r.unit());
        }
    }

    private static String format(double value) {
        return String.format(Locale.ROOT, value >= 100 ? "%.1f" : "%.3f", value);
    }
}
