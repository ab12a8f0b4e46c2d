package io.lockstep.bench.count;

import io.grpc.CallOptions;
import io.grpc.Channel;
import io.grpc.ClientCall;
import io.grpc.ClientInterceptor;
import io.grpc.MethodDescriptor;

import java.util.Map;
import java.util.TreeMap;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.LongAdder;

/** Counts the gRPC calls made through the channels it intercepts, per method (one call = one round trip). */
public final class RpcCounter implements ClientInterceptor {
    private final Map<String, LongAdder> calls = new ConcurrentHashMap<>();

    @Override
    public <Q, R> ClientCall<Q, R> interceptCall(MethodDescriptor<Q, R> method, CallOptions options, Channel next) {
        String name = method.getBareMethodName() != null ? method.getBareMethodName() : method.getFullMethodName();
        calls.computeIfAbsent(name, k -> new LongAdder()).increment();
        return next.newCall(method, options);
    }

    /** Calls so far, per method. */
    public Map<String, Long> counts() {
        Map<String, Long> snapshot = new TreeMap<>();
        calls.forEach((method, count) -> snapshot.put(method, count.sum()));
        return snapshot;
    }

    /** Calls per method between two snapshots. */
    public static Map<String, Long> minus(Map<String, Long> later, Map<String, Long> earlier) {
        Map<String, Long> diff = new TreeMap<>();
        later.forEach((method, count) -> {
            long d = count - earlier.getOrDefault(method, 0L);
            if (d != 0) {
                diff.put(method, d);
            }
        });
        return diff;
    }
}
