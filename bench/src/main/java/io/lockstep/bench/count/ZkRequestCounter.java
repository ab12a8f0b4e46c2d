package io.lockstep.bench.count;

import org.apache.curator.drivers.AdvancedTracerDriver;
import org.apache.curator.drivers.EventTrace;
import org.apache.curator.drivers.OperationTrace;
import org.apache.curator.framework.CuratorFramework;

import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeMap;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.LongAdder;

/**
 * Counts the ZooKeeper requests Curator clients send (one per attempt, retries included), per
 * kind: writes (create, delete, setData, multi — a multi is one request) and reads (getData,
 * getChildren, exists, …). Attach it to every client whose requests an operation costs.
 * Requests Curator sends around its tracer (the parents of {@code creatingParentsIfNeeded}, the
 * children of {@code deletingChildrenIfNeeded}) are not counted.
 */
public final class ZkRequestCounter extends AdvancedTracerDriver {
    private static final Set<String> WRITES = Set.of("create", "delete", "setData", "multi", "setACL", "reconfig");
    private final Map<String, LongAdder> byKind = new ConcurrentHashMap<>();
    /** While not null, every request answered is also appended here (see {@link #record}). */
    private volatile List<Call> timeline;

    /**
     * One request as Curator traced it: its session, kind, path, latency (Curator measures it in
     * whole milliseconds) and the moment it was answered (System.nanoTime()).
     */
    public record Call(long sessionId, String kind, String path, long latencyMs, long answeredNanos) {
    }

    /** Requests so far, per kind. */
    public record Counts(Map<String, Long> byKind) {
        public Counts minus(Counts earlier) {
            Map<String, Long> diff = new TreeMap<>();
            byKind.forEach((kind, n) -> {
                long d = n - earlier.byKind.getOrDefault(kind, 0L);
                if (d != 0) {
                    diff.put(kind, d);
                }
            });
            return new Counts(diff);
        }

        public long writes() {
            return byKind.entrySet().stream().filter(e -> WRITES.contains(e.getKey())).mapToLong(Map.Entry::getValue).sum();
        }

        public long reads() {
            return byKind.entrySet().stream().filter(e -> !WRITES.contains(e.getKey())).mapToLong(Map.Entry::getValue).sum();
        }
    }

    public void attach(CuratorFramework client) {
        client.getZookeeperClient().setTracerDriver(this);
    }

    /** Starts recording every request answered from now on, on every attached client. */
    public void record() {
        timeline = new ArrayList<>();
    }

    /** Stops recording: the requests answered since {@link #record}, in the order they were answered. */
    public List<Call> recorded() {
        List<Call> calls = timeline;
        timeline = null;
        if (calls == null) {
            return List.of();
        }
        synchronized (calls) {
            return List.copyOf(calls);
        }
    }

    public Counts counts() {
        Map<String, Long> snapshot = new TreeMap<>();
        byKind.forEach((kind, n) -> snapshot.put(kind, n.sum()));
        return new Counts(snapshot);
    }

    @Override
    public void addTrace(OperationTrace trace) {
        String kind = kind(trace.getName());
        if (kind != null) {
            byKind.computeIfAbsent(kind, k -> new LongAdder()).increment();
            List<Call> calls = timeline;
            if (calls != null) {
                Call call = new Call(trace.getSessionId(), kind, trace.getPath(), trace.getLatencyMs(), System.nanoTime());
                synchronized (calls) {
                    calls.add(call);
                }
            }
        }
    }

    /** The request kind of a Curator trace name such as {@code CreateBuilderImpl-Foreground}; null if not a request. */
    private static String kind(String traceName) {
        int end = traceName.indexOf("BuilderImpl");
        if (traceName.startsWith("CuratorMultiTransactionImpl")) {
            return "multi";
        }
        if (end <= 0) {
            return null; // connection events and the like
        }
        String builder = traceName.substring(0, end);
        return Character.toLowerCase(builder.charAt(0)) + builder.substring(1);
    }

    @Override
    public void addEvent(EventTrace trace) {
        // connection events are not requests
    }
}
