package io.lockstep.coordinator.schedules;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.EnumMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.TreeMap;

/**
 * What the schedules of one test run did, for RELIABILITY.md: schedules and cycles run, faults
 * injected by kind and the phase each landed in, cycles without a fault (none drawn, or drawn but
 * overtaken by the operation's end), how the operations ended, failed tries (must be 0).
 */
final class ScheduleSummary {
    private int schedules;
    private int cycles;
    private int violations;
    private int agentActsChecked;
    private final Map<FaultKind, Integer> injected = new EnumMap<>(FaultKind.class);
    private final Map<FaultKind, Map<String, Integer>> landedIn = new EnumMap<>(FaultKind.class);
    private final Map<FaultKind, Integer> notLanded = new EnumMap<>(FaultKind.class);
    private int noFaultDrawn;
    private final Map<String, Integer> outcomes = new TreeMap<>();
    private final long startedNanos = System.nanoTime();
    private final List<Laps> clusterStarts = new ArrayList<>();
    private final List<Laps> setUps = new ArrayList<>();
    private final List<Laps> resets = new ArrayList<>();
    private final Map<FaultKind, List<Laps>> cycleTimes = new EnumMap<>(FaultKind.class);

    synchronized void scheduleStarted() {
        schedules++;
    }

    synchronized void setUpEnded(Laps laps) {
        setUps.add(laps);
    }

    synchronized void clusterStarted(Laps laps) {
        clusterStarts.add(laps);
    }

    synchronized void resetEnded(Laps laps) {
        resets.add(laps);
    }

    synchronized void cycleEnded(Cycle cycle, Optional<String> faultLandedIn, String outcome, int agentActs, Laps laps) {
        cycles++;
        cycleTimes.computeIfAbsent(cycle.fault(), kind -> new ArrayList<>()).add(laps);
        agentActsChecked += agentActs;
        if (cycle.fault() == FaultKind.NONE) {
            noFaultDrawn++;
        } else if (faultLandedIn.isPresent()) {
            injected.merge(cycle.fault(), 1, Integer::sum);
            landedIn.computeIfAbsent(cycle.fault(), kind -> new TreeMap<>()).merge(faultLandedIn.get(), 1, Integer::sum);
        } else {
            notLanded.merge(cycle.fault(), 1, Integer::sum);
        }
        outcomes.merge(cycle.operation().name().toLowerCase() + " " + outcome, 1, Integer::sum);
    }

    synchronized void violation() {
        violations++;
    }

    synchronized String render(String seedNote) {
        StringBuilder text = new StringBuilder("fault schedules: ").append(schedules).append(" schedules, ")
                .append(cycles).append(" cycles, ").append((System.nanoTime() - startedNanos) / 1_000_000_000L)
                .append(" s; ").append(seedNote).append('\n');
        text.append("faults injected (landed while the operation was in progress): ")
                .append(injected.values().stream().mapToInt(Integer::intValue).sum()).append(';');
        for (FaultKind kind : FaultKind.values()) {
            if (kind != FaultKind.NONE) {
                text.append(' ').append(kind).append('=').append(injected.getOrDefault(kind, 0));
            }
        }
        text.append("\nwhere they landed:");
        landedIn.forEach((kind, phases) -> text.append(' ').append(kind).append(' ').append(phases));
        text.append("\ncycles without a fault: ").append(noFaultDrawn + notLanded.values().stream().mapToInt(Integer::intValue).sum())
                .append(" (").append(noFaultDrawn).append(" drew none; the operation ended before the drawn fault landed: ")
                .append(notLanded).append(')');
        text.append("\noutcomes:");
        outcomes.forEach((outcome, count) -> text.append(' ').append(outcome).append('=').append(count));
        text.append("\nagent acts checked for epoch order: ").append(agentActsChecked);
        text.append("\nseconds (mean) of a cluster's start (shared by the schedules until one fails): ")
                .append(mean(clusterStarts));
        text.append("\nseconds (mean) of a schedule's set-up: ").append(mean(setUps));
        text.append("\nseconds (mean) of a schedule's reset: ").append(mean(resets));
        text.append("\nseconds (mean) of a cycle by fault kind:");
        cycleTimes.forEach((kind, laps) -> text.append("\n  ").append(kind).append(": ").append(mean(laps)));
        text.append("\nfailed schedules (invariant violations, timeouts, errors): ").append(violations).append('\n');
        return text.toString();
    }

    /** "N× total s (section s, …)": means over {@code laps}, sections in their first order. */
    private static String mean(List<Laps> laps) {
        if (laps.isEmpty()) {
            return "none";
        }
        Map<String, Long> sums = new LinkedHashMap<>();
        long total = 0;
        for (Laps one : laps) {
            total += one.totalMillis();
            one.millis().forEach((section, ms) -> sums.merge(section, ms, Long::sum));
        }
        StringBuilder text = new StringBuilder(laps.size() + "× " + Laps.seconds(total / laps.size()) + " s (");
        sums.forEach((section, ms) -> text.append(section).append(' ').append(Laps.seconds(ms / laps.size())).append(", "));
        text.setLength(text.length() - 2);
        return text.append(')').toString();
    }

    synchronized void write(Path file, String seedNote) throws IOException {
        Files.createDirectories(file.getParent());
        Files.writeString(file, render(seedNote));
    }
}
