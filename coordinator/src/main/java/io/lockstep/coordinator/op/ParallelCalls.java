package io.lockstep.coordinator.op;

import io.lockstep.coordinator.agents.AgentCallException;

import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionException;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;

/**
 * Runs one call per host in parallel, one future per pending call, and gathers every outcome: a
 * failure on one host does not hide the others' results (the abort path needs to know who froze).
 */
public final class ParallelCalls implements AutoCloseable {
    private final ExecutorService pool;

    public ParallelCalls(int hosts) {
        this.pool = Executors.newFixedThreadPool(Math.max(1, Math.min(hosts, 64)), runnable -> {
            Thread thread = new Thread(runnable, "lockstep-rpc");
            thread.setDaemon(true);
            return thread;
        });
    }

    @FunctionalInterface
    public interface HostCall<T> {
        T call(String hostId) throws Exception;
    }

    /** The outcome per host: exactly one of value and failure is set. */
    public record Outcome<T>(String hostId, T value, Exception failure) {
        public boolean ok() {
            return failure == null;
        }
    }

    public <T> Map<String, Outcome<T>> run(List<String> hosts, HostCall<T> call, OnDone<T> onDone) {
        List<CompletableFuture<Outcome<T>>> futures = new ArrayList<>();
        for (String host : hosts) {
            futures.add(CompletableFuture.supplyAsync(() -> {
                Outcome<T> outcome;
                try {
                    outcome = new Outcome<>(host, call.call(host), null);
                } catch (Exception e) {
                    outcome = new Outcome<>(host, null, e);
                }
                onDone.done(outcome);
                return outcome;
            }, pool));
        }
        Map<String, Outcome<T>> outcomes = new LinkedHashMap<>();
        for (CompletableFuture<Outcome<T>> future : futures) {
            try {
                Outcome<T> outcome = future.join();
                outcomes.put(outcome.hostId(), outcome);
            } catch (CompletionException e) {
                throw new IllegalStateException("a host call escaped its own error handling", e.getCause());
            }
        }
        return outcomes;
    }

    @FunctionalInterface
    public interface OnDone<T> {
        void done(Outcome<T> outcome);
    }

    /** The first failure in host order, as the operation should report it. */
    public static <T> Outcome<T> firstFailure(Map<String, Outcome<T>> outcomes) {
        return outcomes.values().stream().filter(o -> !o.ok()).findFirst().orElse(null);
    }

    public static String describe(Exception failure) {
        return failure instanceof AgentCallException ? failure.getMessage() : failure.toString();
    }

    @Override
    public void close() {
        pool.shutdownNow();
    }
}
