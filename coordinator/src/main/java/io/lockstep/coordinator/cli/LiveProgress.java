package io.lockstep.coordinator.cli;

import io.lockstep.coordinator.op.OperationListener;

import java.io.PrintWriter;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * Progress on a terminal: one status line per phase ("freeze  2/3 hosts frozen"), with a line per
 * host under the running phase, redrawn in place with ANSI cursor movement on every event.
 */
final class LiveProgress implements OperationListener {
    private static final String CURSOR_UP_LINES = "\u001B[%dF";
    private static final String CLEAR_TO_END = "\u001B[J";
    private static final String BOLD = "\u001B[1m";
    private static final String GREEN = "\u001B[32m";
    private static final String RESET = "\u001B[0m";

    private final PrintWriter out;
    private final Map<String, PhaseState> phases = new LinkedHashMap<>();
    private int linesDrawn;

    LiveProgress(PrintWriter out) {
        this.out = out;
    }

    private static final class PhaseState {
        int total;
        final Map<String, String> hosts = new LinkedHashMap<>();
        Long endedMicros;
    }

    @Override
    public synchronized void phaseStarted(String phase, int total) {
        phases.computeIfAbsent(phase, p -> new PhaseState()).total = total;
        redraw();
    }

    @Override
    public synchronized void hostDone(String phase, String hostId, int done, int total, String detail) {
        PhaseState state = phases.computeIfAbsent(phase, p -> new PhaseState());
        state.total = Math.max(state.total, total);
        state.hosts.put(hostId, detail);
        redraw();
    }

    @Override
    public synchronized void phaseEnded(String phase, long micros) {
        phases.computeIfAbsent(phase, p -> new PhaseState()).endedMicros = micros;
        redraw();
    }

    private void redraw() {
        List<String> lines = new ArrayList<>();
        for (Map.Entry<String, PhaseState> entry : phases.entrySet()) {
            String phase = entry.getKey();
            PhaseState state = entry.getValue();
            String count = state.total == 0 ? "" : state.hosts.size() + "/" + state.total + " hosts " + pastTense(phase);
            if (state.endedMicros != null) {
                lines.add(GREEN + "✓ " + RESET + String.format("%-8s", phase) + count
                        + (count.isEmpty() ? "" : ", ") + "in " + HumanFormat.micros(state.endedMicros));
                continue;
            }
            lines.add(BOLD + "… " + String.format("%-8s", phase) + RESET + count);
            state.hosts.forEach((host, detail) -> lines.add("    " + host + "  " + detail));
        }
        if (linesDrawn > 0) {
            out.print(String.format(CURSOR_UP_LINES, linesDrawn) + CLEAR_TO_END);
        }
        lines.forEach(out::println);
        out.flush();
        linesDrawn = lines.size();
    }

    private static String pastTense(String phase) {
        return switch (phase) {
            case "hooks" -> "ready";
            case "freeze" -> "frozen";
            case "capture" -> "captured";
            case "thaw" -> "thawed";
            case "store" -> "stored";
            case "commit" -> "committed";
            case "validate" -> "validated";
            case "roll-back" -> "rolled back";
            case "stage" -> "staged";
            case "prepare" -> "prepared";
            case "release" -> "released";
            case "abort" -> "aborted";
            default -> "done";
        };
    }
}
