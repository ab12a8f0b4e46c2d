package io.lockstep.coordinator.cli;

import io.lockstep.coordinator.op.OperationListener;

import java.io.PrintWriter;
import java.util.HashMap;
import java.util.Map;

/** Progress for logs and pipes: one line per event, nothing redrawn. */
final class PlainProgress implements OperationListener {
    private final PrintWriter out;
    private final Map<String, Integer> doneByPhase = new HashMap<>();

    PlainProgress(PrintWriter out) {
        this.out = out;
    }

    @Override
    public synchronized void phaseStarted(String phase, int total) {
        out.println(phase + ": started on " + total + " host" + (total == 1 ? "" : "s"));
        out.flush();
    }

    @Override
    public synchronized void hostDone(String phase, String hostId, int done, int total, String detail) {
        // Count here: not every phase reports a running count.
        int count = doneByPhase.merge(phase, 1, Integer::sum);
        out.println(phase + ": " + hostId + " (" + count + "/" + total + "): " + detail);
        out.flush();
    }

    @Override
    public synchronized void phaseEnded(String phase, long micros) {
        out.println(phase + ": done in " + HumanFormat.micros(micros));
        out.flush();
    }
}
