package io.lockstep.coordinator.schedules;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.EnumMap;
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

    synchronized void scheduleStarted() {
        schedules++;
    }

    synchronized void cycleEnded(Cycle cycle, Optional<String> faultLandedIn, String outcome, int agentActs) {
        cycles++;
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
        text.append("\nfailed schedules (invariant violations, timeouts, errors): ").append(violations).append('\n');
        return text.toString();
    }

    synchronized void write(Path file, String seedNote) throws IOException {
        Files.createDirectories(file.getParent());
        Files.writeString(file, render(seedNote));
    }
}
