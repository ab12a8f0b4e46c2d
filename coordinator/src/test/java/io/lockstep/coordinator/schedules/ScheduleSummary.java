package io.lockstep.coordinator.schedules;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.EnumMap;
import java.util.Map;
import java.util.TreeMap;

/**
 * What the schedules of one test run did, for RELIABILITY.md: schedules and cycles run, faults
 * injected by kind, how the operations ended, invariant violations (must be 0).
 */
final class ScheduleSummary {
    private int schedules;
    private int cycles;
    private int violations;
    private int agentActsChecked;
    private final Map<FaultKind, Integer> injected = new EnumMap<>(FaultKind.class);
    private final Map<String, Integer> outcomes = new TreeMap<>();
    private final long startedNanos = System.nanoTime();

    synchronized void scheduleStarted() {
        schedules++;
    }

    synchronized void cycleEnded(Cycle cycle, boolean faultInjected, String outcome, int agentActs) {
        cycles++;
        agentActsChecked += agentActs;
        if (faultInjected) {
            injected.merge(cycle.fault(), 1, Integer::sum);
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
        text.append("faults injected:");
        for (FaultKind kind : FaultKind.values()) {
            if (kind != FaultKind.NONE) {
                text.append(' ').append(kind).append('=').append(injected.getOrDefault(kind, 0));
            }
        }
        text.append("\noutcomes:");
        outcomes.forEach((outcome, count) -> text.append(' ').append(outcome).append('=').append(count));
        text.append("\nagent acts checked for epoch order: ").append(agentActsChecked);
        text.append("\ninvariant violations: ").append(violations).append('\n');
        return text.toString();
    }

    synchronized void write(Path file, String seedNote) throws IOException {
        Files.createDirectories(file.getParent());
        Files.writeString(file, render(seedNote));
    }
}
