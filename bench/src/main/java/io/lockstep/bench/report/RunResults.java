package io.lockstep.bench.report;

import io.lockstep.bench.Result;
import io.lockstep.bench.harness.ResultsFile;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Optional;

/**
 * A results file read back (the format {@link ResultsFile} writes), for rendering and for
 * merging a later run of some suites into it ({@code merged} says which, and when).
 */
public record RunResults(String started, boolean quick, double seconds, ResultsFile.Host machine,
                         List<ResultsFile.SuiteRun> suites, List<Result> results, List<String> failures,
                         List<String> merged) {

    /** "Linux KERNEL, N cores, Java V". */
    public String host() {
        return "Linux " + machine.kernel() + ", " + machine.cores() + " cores, Java " + machine.java();
    }

    /** Reads {@code file}; anything missing or malformed fails naming the file and the entry at fault. */
    public static RunResults read(Path file) throws IOException {
        String text;
        try {
            text = Files.readString(file);
        } catch (NoSuchFileException e) {
            throw new IOException(file + ": no such results file (run bench/run.sh first)", e);
        }
        try {
            Map<?, ?> root = object(JsonReader.parse(text), "the top level");
            Map<?, ?> host = object(root.get("host"), "host");
            ResultsFile.Host machine = new ResultsFile.Host(string(host, "kernel", "host"),
                    (long) number(host, "cores", "host"), string(host, "java", "host"));
            List<ResultsFile.SuiteRun> suites = new ArrayList<>();
            List<?> suiteList = root.containsKey("suites") ? list(root.get("suites"), "suites") : List.of();
            for (int i = 0; i < suiteList.size(); i++) {
                String where = "suites[" + i + "]";
                Map<?, ?> s = object(suiteList.get(i), where);
                suites.add(new ResultsFile.SuiteRun(string(s, "name", where), number(s, "seconds", where),
                        number(s, "budget", where)));
            }
            List<Result> results = new ArrayList<>();
            List<?> resultList = list(root.get("results"), "results");
            for (int i = 0; i < resultList.size(); i++) {
                String where = "results[" + i + "]";
                Map<?, ?> r = object(resultList.get(i), where);
                results.add(new Result(string(r, "suite", where), string(r, "case", where), string(r, "metric", where),
                        number(r, "value", where), string(r, "unit", where), number(r, "floor", where),
                        number(r, "ratio", where), string(r, "notes", where)));
            }
            List<String> failures = new ArrayList<>();
            for (Object f : list(root.get("failures"), "failures")) {
                failures.add(String.valueOf(f));
            }
            List<String> merged = new ArrayList<>();
            for (Object m : root.containsKey("merged") ? list(root.get("merged"), "merged") : List.of()) {
                merged.add(String.valueOf(m));
            }
            return new RunResults(string(root, "started", "the top level"),
                    Boolean.TRUE.equals(root.get("quick")),
                    root.get("seconds") instanceof Double d ? d : Double.NaN, machine, suites, results, failures, merged);
        } catch (IllegalArgumentException e) {
            throw new IOException(file + ": not a results file: " + e.getMessage(), e);
        }
    }

    /** The result of {@code suite}/{@code caseName}/{@code metric}, if measured. */
    Optional<Result> find(String suite, String caseName, String metric) {
        return results.stream().filter(r -> r.suite().equals(suite) && r.caseName().equals(caseName)
                && r.metric().equals(metric)).findFirst();
    }

    List<Result> of(String suite, String metric) {
        return results.stream().filter(r -> r.suite().equals(suite) && r.metric().equals(metric)).toList();
    }

    private static Map<?, ?> object(Object value, String where) {
        if (value instanceof Map<?, ?> map) {
            return map;
        }
        throw new IllegalArgumentException(where + " is not an object");
    }

    private static List<?> list(Object value, String where) {
        if (value instanceof List<?> list) {
            return list;
        }
        throw new IllegalArgumentException(where + " is not a list");
    }

    private static String string(Map<?, ?> object, String key, String where) {
        if (object.get(key) instanceof String s) {
            return s;
        }
        throw new IllegalArgumentException(where + " has no text '" + key + "'");
    }

    /** A number; JSON null (no floor, no ratio) reads as NaN. */
    private static double number(Map<?, ?> object, String key, String where) {
        if (!object.containsKey(key)) {
            throw new IllegalArgumentException(where + " has no '" + key + "'");
        }
        Object value = object.get(key);
        if (value == null) {
            return Double.NaN;
        }
        if (value instanceof Double d) {
            return d;
        }
        throw new IllegalArgumentException(where + "." + key + " is not a number: " + value);
    }
}
