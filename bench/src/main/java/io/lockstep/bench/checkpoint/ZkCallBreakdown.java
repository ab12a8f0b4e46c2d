package io.lockstep.bench.checkpoint;

import io.lockstep.bench.count.ZkRequestCounter;

import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;

/**
 * Where one checkpoint's ZooKeeper time goes: the coordinator's requests per phase (how many, and
 * their summed latency: they are sequential, so that is the time the phase spent waiting on
 * ZooKeeper), and the agents' requests per kind (median and largest latency). Curator measures a
 * request's latency in whole milliseconds, so a sum of n requests is good to about n ms.
 */
record ZkCallBreakdown(List<ZkRequestCounter.Call> coordinator, List<ZkRequestCounter.Call> agents, long start,
                       Map<String, Long> phaseStarts) {

    /**
     * @param phaseEndedAt each phase's end (System.nanoTime()), in order; the phase "open" runs from
     *                     {@code start} to {@code openedAt}, each later phase from the previous end
     */
    static ZkCallBreakdown of(List<ZkRequestCounter.Call> calls, long coordinatorSession, long start, long openedAt,
                              Map<String, Long> phaseEndedAt) {
        Map<String, Long> phaseStarts = new LinkedHashMap<>();
        phaseStarts.put("open", start);
        long previous = openedAt;
        for (Map.Entry<String, Long> phase : phaseEndedAt.entrySet()) {
            phaseStarts.put(phase.getKey(), previous);
            previous = phase.getValue();
        }
        List<ZkRequestCounter.Call> coordinator = new ArrayList<>();
        List<ZkRequestCounter.Call> agents = new ArrayList<>();
        for (ZkRequestCounter.Call call : calls) {
            (call.sessionId() == coordinatorSession ? coordinator : agents).add(call);
        }
        return new ZkCallBreakdown(coordinator, agents, start, phaseStarts);
    }

    /** Prints the coordinator's requests one a line and returns the summary for the result's notes. */
    String printAndSummarize(String caseName) {
        System.err.println("  " + caseName + ", one checkpoint's ZooKeeper requests on the coordinator (ms from its start: "
                + "kind path, latency):");
        Map<String, int[]> perPhase = new LinkedHashMap<>();
        phaseStarts.keySet().forEach(phase -> perPhase.put(phase, new int[2]));
        for (ZkRequestCounter.Call call : coordinator) {
            long sent = call.answeredNanos() - call.latencyMs() * 1_000_000;
            String phase = phaseOf(sent);
            int[] sum = perPhase.get(phase);
            sum[0]++;
            sum[1] += (int) call.latencyMs();
            System.err.printf("    %7.1f %-7s %-11s %s, %d ms%n", (sent - start) / 1e6, phase, call.kind(),
                    call.path(), call.latencyMs());
        }
        System.err.println("  the agents' requests (ms from the checkpoint's start: phase, session, kind path, latency):");
        for (ZkRequestCounter.Call call : agents) {
            long sent = call.answeredNanos() - call.latencyMs() * 1_000_000;
            System.err.printf("    %7.1f %-7s %04x %-11s %s, %d ms%n", (sent - start) / 1e6, phaseOf(sent),
                    call.sessionId() & 0xffff, call.kind(), call.path(), call.latencyMs());
        }
        StringBuilder summary = new StringBuilder("; the coordinator's ZooKeeper requests per phase (requests/summed ms):");
        perPhase.forEach((phase, sum) -> summary.append(' ').append(phase).append(' ').append(sum[0]).append('/')
                .append(sum[1]));
        Map<String, List<Long>> agentLatency = new TreeMap<>();
        for (ZkRequestCounter.Call call : agents) {
            agentLatency.computeIfAbsent(call.kind(), k -> new ArrayList<>()).add(call.latencyMs());
        }
        summary.append("; the agents' requests (count, median/max ms):");
        agentLatency.forEach((kind, latencies) -> {
            List<Long> sorted = latencies.stream().sorted().toList();
            summary.append(' ').append(kind).append(' ').append(sorted.size()).append(", ")
                    .append(sorted.get(sorted.size() / 2)).append('/').append(sorted.get(sorted.size() - 1));
        });
        System.err.println("  " + summary.substring(2));
        return summary.toString();
    }

    private String phaseOf(long sentNanos) {
        String phase = "open";
        for (Map.Entry<String, Long> start : phaseStarts.entrySet()) {
            if (sentNanos - start.getValue() >= 0) {
                phase = start.getKey();
            }
        }
        return phase;
    }
}
