package io.lockstep.bench.harness;

import io.lockstep.bench.BenchConfig;
import io.lockstep.bench.Result;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Instant;
import java.util.List;
import java.util.Locale;

/**
 * The results as one small JSON file for a BENCHMARKS.md renderer:
 * <pre>
 * {"started": "...", "quick": true, "seconds": 600.0,
 *  "host": {"kernel": "...", "cores": 2, "java": "..."},
 *  "suites": [{"name": "freeze", "seconds": 40.1, "budget": 60.0}, ...],
 *  "results": [{"suite": "...", "case": "...", "metric": "...", "value": 1.0, "unit": "ms",
 *               "floor": 1.0, "ratio": 1.0, "notes": "..."}, ...],
 *  "failures": ["suite: message", ...],
 *  "merged": ["barrier: measured 2026-...Z (40 s) by bench/run.sh --suite barrier --merge", ...]}
 * </pre>
 */
public final class ResultsFile {
    private ResultsFile() {
    }

    /** The machine a run measured on. */
    public record Host(String kernel, long cores, String java) {
        public static Host thisOne() {
            return new Host(System.getProperty("os.version"), Runtime.getRuntime().availableProcessors(),
                    System.getProperty("java.version"));
        }
    }

    /** How long one suite ran, against its budget. */
    public record SuiteRun(String name, double seconds, double budgetSeconds) {
    }

    public static void write(Path out, BenchConfig config, Instant started, double seconds, List<SuiteRun> suites,
                             List<Result> results, List<String> failures) throws IOException {
        write(out, config.quick(), started.toString(), seconds, Host.thisOne(), suites, results, failures, List.of());
    }

    /** {@code merged}: the suites whose figures come from a later run merged into this one, and when. */
    public static void write(Path out, boolean quick, String started, double seconds, Host host, List<SuiteRun> suites,
                             List<Result> results, List<String> failures, List<String> merged) throws IOException {
        StringBuilder json = new StringBuilder();
        json.append("{\n  \"started\": ").append(quote(started))
                .append(",\n  \"quick\": ").append(quick)
                .append(",\n  \"seconds\": ").append(number(seconds))
                .append(",\n  \"host\": {\"kernel\": ").append(quote(host.kernel()))
                .append(", \"cores\": ").append(host.cores())
                .append(", \"java\": ").append(quote(host.java())).append("}")
                .append(",\n  \"suites\": [");
        for (int i = 0; i < suites.size(); i++) {
            SuiteRun suite = suites.get(i);
            json.append(i == 0 ? "" : ", ").append("{\"name\": ").append(quote(suite.name()))
                    .append(", \"seconds\": ").append(number(suite.seconds()))
                    .append(", \"budget\": ").append(number(suite.budgetSeconds())).append("}");
        }
        json.append("],\n  \"results\": [");
        for (int i = 0; i < results.size(); i++) {
            Result r = results.get(i);
            json.append(i == 0 ? "\n    " : ",\n    ")
                    .append("{\"suite\": ").append(quote(r.suite()))
                    .append(", \"case\": ").append(quote(r.caseName()))
                    .append(", \"metric\": ").append(quote(r.metric()))
                    .append(", \"value\": ").append(number(r.value()))
                    .append(", \"unit\": ").append(quote(r.unit()))
                    .append(", \"floor\": ").append(number(r.floor()))
                    .append(", \"ratio\": ").append(number(r.ratio()))
                    .append(", \"notes\": ").append(quote(r.notes())).append("}");
        }
        json.append("\n  ],\n  \"failures\": [");
        for (int i = 0; i < failures.size(); i++) {
            json.append(i == 0 ? "" : ", ").append(quote(failures.get(i)));
        }
        json.append("],\n  \"merged\": [");
        for (int i = 0; i < merged.size(); i++) {
            json.append(i == 0 ? "" : ", ").append(quote(merged.get(i)));
        }
        json.append("]\n}\n");
        Path parent = out.toAbsolutePath().getParent();
        Files.createDirectories(parent);
        Path temp = Files.createTempFile(parent, ".results", ".json");
        Files.writeString(temp, json);
        Files.move(temp, out, java.nio.file.StandardCopyOption.REPLACE_EXISTING,
                java.nio.file.StandardCopyOption.ATOMIC_MOVE);
    }

    /** JSON has no NaN: a ratio without a floor is null. */
    private static String number(double value) {
        return Double.isFinite(value) ? String.format(Locale.ROOT, "%.4f", value) : "null";
    }

    private static String quote(String s) {
        StringBuilder out = new StringBuilder("\"");
        for (char c : s.toCharArray()) {
            switch (c) {
                case '"' -> out.append("\\\"");
                case '\\' -> out.append("\\\\");
                case '\n' -> out.append("\\n");
                case '\t' -> out.append("\\t");
                default -> {
                    if (c < 0x20) {
                        out.append(String.format("\\u%04x", (int) c));
                    } else {
                        out.append(c);
                    }
                }
            }
        }
        return out.append('"').toString();
    }
}
