package io.lockstep.agent.server;

import io.lockstep.agent.capture.CaptureStats;
import io.lockstep.metrics.DurationBuckets;
import io.micrometer.core.instrument.DistributionSummary;
import io.micrometer.core.instrument.Gauge;
import io.micrometer.core.instrument.Timer;
import io.micrometer.prometheusmetrics.PrometheusConfig;
import io.micrometer.prometheusmetrics.PrometheusMeterRegistry;
import org.apache.curator.framework.CuratorFramework;

import java.util.concurrent.TimeUnit;

/**
 * The agent's Prometheus metrics. The gRPC layer times each phase call; the checkpoint participant
 * reports what it captured and how long the group stayed frozen; health is read when scraped.
 */
public final class AgentMetrics {
    private final PrometheusMeterRegistry registry = new PrometheusMeterRegistry(PrometheusConfig.DEFAULT);
    private final Timer frozenWindow;
    private final DistributionSummary locks;
    private final DistributionSummary files;

    AgentMetrics(String hostId) {
        registry.config().commonTags("host", hostId);
        frozenWindow = Timer.builder("lockstep.agent.frozen.window")
                .description("How long this host's part of a group stayed frozen, freeze request to thaw")
                .serviceLevelObjectives(DurationBuckets.get())
                .register(registry);
        locks = DistributionSummary.builder("lockstep.agent.captured.locks")
                .description("Locks (held and waited for) in each manifest this host captured").register(registry);
        files = DistributionSummary.builder("lockstep.agent.captured.files")
                .description("Open files in each manifest this host captured").register(registry);
        // The capture's timer is recorded before the Freeze reply of a host alone: its first registration (4 ms
        // measured at 1 agent, 0.2 ms later) is paid here instead of in the first checkpoint after a start.
        phaseTimer("capture", true);
    }

    public PrometheusMeterRegistry registry() {
        return registry;
    }

    /** Health gauges, read at each scrape. */
    void watch(CuratorFramework zk, GroupRegistry groups) {
        Gauge.builder("lockstep.agent.zookeeper.connected", zk, client -> client.getZookeeperClient().isConnected() ? 1 : 0)
                .description("1 while the agent's ZooKeeper connection is up").register(registry);
        Gauge.builder("lockstep.agent.groups.managed", groups, g -> g.all().size())
                .description("Groups this agent manages").register(registry);
        Gauge.builder("lockstep.agent.groups.frozen", groups, AgentMetrics::frozenGroups)
                .description("Groups frozen on this host now").register(registry);
        Gauge.builder("lockstep.agent.stubs.running", groups, AgentMetrics::runningStubs)
                .description("Restore stubs staged on this host and not yet released or aborted").register(registry);
    }

    /** One phase call (freeze, capture, validate, …) ended after {@code nanos}. */
    void phase(String phase, long nanos, boolean ok) {
        phaseTimer(phase, ok).record(nanos, TimeUnit.NANOSECONDS);
    }

    /** The timer of one phase and outcome, registered on first use. */
    private Timer phaseTimer(String phase, boolean ok) {
        return Timer.builder("lockstep.agent.phase")
                .description("Duration of this host's part of each phase")
                .tags("phase", phase, "outcome", ok ? "ok" : "failed")
                .serviceLevelObjectives(DurationBuckets.get())
                .register(registry);
    }

    void captured(CaptureStats stats) {
        locks.record(stats.locks());
        files.record(stats.files());
    }

    /** A program's hook failed or timed out ({@code hook}: pre-freeze, post-thaw). */
    void hookFailed(String hook) {
        io.micrometer.core.instrument.Counter.builder("lockstep.agent.hook.failures")
                .description("Application hooks that failed, timed out or were not acknowledged")
                .tag("hook", hook)
                .register(registry)
                .increment();
    }

    void thawed(long frozenMicros) {
        frozenWindow.record(frozenMicros, TimeUnit.MICROSECONDS);
    }

    // Read without the groups' monitors: a scrape must not wait for a capture, and a value one
    // event old is fine for a gauge.
    private static long frozenGroups(GroupRegistry groups) {
        return groups.all().values().stream().filter(group -> {
            FrozenState state = group.frozen();
            return state != null && state.frozen();
        }).count();
    }

    private static long runningStubs(GroupRegistry groups) {
        return groups.all().values().stream().mapToLong(group -> {
            RestoreSession session = group.restore();
            return session == null ? 0 : session.stubCount();
        }).sum();
    }
}
