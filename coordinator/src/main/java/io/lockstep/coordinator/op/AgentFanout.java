package io.lockstep.coordinator.op;

import io.grpc.Status;
import io.lockstep.coordinator.agents.AgentCallException;
import io.lockstep.coordinator.agents.AgentClient;

import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.function.Function;

/**
 * One phase's calls to all participating agents, in parallel, with progress reported per host and
 * the first failure mapped to a {@link FailureReason} naming the host.
 */
public final class AgentFanout implements AutoCloseable {
    private final Map<String, AgentClient> agents;
    private final List<String> hosts;
    private final ParallelCalls calls;
    private final OperationListener listener;
    private final Map<String, Long> phaseMicros = new LinkedHashMap<>();
    /** Phases made of several {@link #on} calls (see {@link #expect}): their total and the calls done so far. */
    private final Map<String, int[]> expected = new LinkedHashMap<>();

    public AgentFanout(Map<String, AgentClient> agents, OperationListener listener) {
        this.agents = agents;
        this.hosts = List.copyOf(agents.keySet());
        this.calls = new ParallelCalls(hosts.size());
        this.listener = listener;
    }

    public List<String> hosts() {
        return hosts;
    }

    public AgentClient agent(String host) {
        return agents.get(host);
    }

    @FunctionalInterface
    public interface AgentCall<T> {
        T call(String host, AgentClient agent) throws Exception;
    }

    /** Calls every host; all must succeed, else the first failure (in host order) is thrown. */
    public <T> Map<String, T> all(String phase, FailureReason reason, AgentCall<T> call, Function<T, String> detail)
            throws OperationFailedException {
        return on(hosts, phase, reason, call, detail);
    }

    /**
     * The next {@code calls} calls of {@link #on} for {@code phase} are one phase (a restore sends
     * each manifest on its own, one host after another): progress reports it started once, and
     * counts done calls out of {@code calls}.
     */
    public void expect(String phase, int calls) {
        expected.put(phase, new int[] {calls, 0, 0});
    }

    public <T> Map<String, T> on(List<String> someHosts, String phase, FailureReason reason, AgentCall<T> call,
                                 Function<T, String> detail) throws OperationFailedException {
        // {total, calls started, calls done}
        int[] progress = expected.getOrDefault(phase, new int[] {someHosts.size(), 0, 0});
        if (progress[1]++ == 0) {
            listener.phaseStarted(phase, progress[0]);
        }
        Map<String, ParallelCalls.Outcome<T>> outcomes = calls.run(someHosts, host -> call.call(host, agents.get(host)),
                outcome -> {
                    synchronized (progress) {
                        progress[2]++;
                        listener.hostDone(phase, outcome.hostId(), progress[2], progress[0],
                                outcome.ok() ? detail.apply(outcome.value()) : ParallelCalls.describe(outcome.failure()));
                    }
                });
        ParallelCalls.Outcome<T> failed = ParallelCalls.firstFailure(outcomes);
        if (failed != null) {
            throw asFailure(reason, failed.hostId(), failed.failure());
        }
        Map<String, T> values = new LinkedHashMap<>();
        outcomes.forEach((host, outcome) -> values.put(host, outcome.value()));
        return values;
    }

    /**
     * Progress of a phase the hosts report through ZooKeeper rather than through a call (their
     * barrier entries): the phase starts now, and each host is done once, when its entry is seen.
     */
    public java.util.function.Consumer<String> arrivals(String phase, String detail) {
        listener.phaseStarted(phase, hosts.size());
        java.util.Set<String> seen = new java.util.LinkedHashSet<>();
        return host -> {
            synchronized (seen) {
                if (hosts.contains(host) && seen.add(host)) {
                    listener.hostDone(phase, host, seen.size(), hosts.size(), detail);
                }
            }
        };
    }

    /** Calls every host, best effort: failures are returned, not thrown (abort, thaw, release). */
    public <T> Map<String, ParallelCalls.Outcome<T>> bestEffort(String phase, AgentCall<T> call) {
        listener.phaseStarted(phase, hosts.size());
        int[] done = {0};
        return calls.run(hosts, host -> call.call(host, agents.get(host)), outcome -> {
            synchronized (done) {
                done[0]++;
                listener.hostDone(phase, outcome.hostId(), done[0], hosts.size(),
                        outcome.ok() ? "ok" : ParallelCalls.describe(outcome.failure()));
            }
        });
    }

    public static OperationFailedException asFailure(FailureReason reason, String host, Exception failure) {
        if (failure instanceof OperationFailedException known) {
            return known;
        }
        FailureReason why = reason;
        if (failure instanceof AgentCallException agentFailure) {
            if (agentFailure.isStaleEpoch()) {
                why = FailureReason.STALE_EPOCH;
            } else if (agentFailure.code() == Status.Code.UNAVAILABLE) {
                why = FailureReason.AGENT_UNAVAILABLE;
            }
        }
        return new OperationFailedException(why, host, ParallelCalls.describe(failure), failure);
    }

    /** Records a phase's duration from its start (System.nanoTime()). */
    public void phaseEnded(String phase, long startNanos) {
        phaseEnded(phase, startNanos, System.nanoTime());
    }

    /** Records a phase's duration from its start to its end (System.nanoTime()), both past. */
    public void phaseEnded(String phase, long startNanos, long endNanos) {
        long micros = (endNanos - startNanos) / 1000;
        phaseMicros.put(phase, micros);
        listener.phaseEnded(phase, micros);
    }

    public Map<String, Long> phaseMicros() {
        return phaseMicros;
    }

    @Override
    public void close() {
        calls.close();
    }
}
