package io.lockstep.bench.report;

import io.lockstep.bench.Result;

import java.util.ArrayList;
import java.util.List;
import java.util.Optional;

/** The speed targets of the earlier issues, judged on one run's figures. */
final class Targets {
    /** One target on one case: met when value ÷ reference ≤ limit. */
    record Check(String target, String caseName, double value, double reference, String unit, double limit) {
        double ratio() {
            return value / reference;
        }

        boolean met() {
            return ratio() <= limit;
        }
    }

    private Targets() {
    }

    static List<Check> judge(RunResults run) {
        List<Check> checks = new ArrayList<>();
        perCase(run, checks, "freeze", "freeze-median", "freeze ≤ 1.5× raw cgroup freeze", 1.5);
        perCase(run, checks, "capture", "capture-median", "capture ≤ 2× reading /proc", 2);
        perCase(run, checks, "restore", "prepare-median", "prepare ≤ 2× raw fcntl", 2);
        Optional<Result> at4 = run.find("checkpoint", "4 agents", "frozen-window-median");
        Optional<Result> at64 = run.find("checkpoint", "64 agents", "frozen-window-median");
        if (at4.isPresent() && at64.isPresent()) {
            checks.add(new Check("frozen window at 64 agents ≤ 2× window at 4", "64 vs 4 agents", at64.get().value(),
                    at4.get().value(), "ms", 2));
        }
        perCase(run, checks, "checkpoint", "barrier-median", "barrier ≤ Curator's DistributedDoubleBarrier", 1);
        perCase(run, checks, "restore", "restore-median", "restore of N processes ≤ 3× plain start", 3);
        return checks;
    }

    private static void perCase(RunResults run, List<Check> checks, String suite, String metric, String target,
                                double limit) {
        for (Result r : run.of(suite, metric)) {
            if (Double.isFinite(r.value()) && Double.isFinite(r.floor()) && r.floor() > 0) {
                checks.add(new Check(target, r.caseName(), r.value(), r.floor(), r.unit(), limit));
            }
        }
    }
}
