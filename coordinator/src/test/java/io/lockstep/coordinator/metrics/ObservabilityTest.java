package io.lockstep.coordinator.metrics;

import ch.qos.logback.classic.Logger;
import ch.qos.logback.classic.spi.ILoggingEvent;
import ch.qos.logback.core.read.ListAppender;
import io.lockstep.agent.server.CheckpointParticipant;
import io.lockstep.coordinator.checkpoint.CheckpointOperation;
import io.lockstep.coordinator.checkpoint.CheckpointOptions;
import io.lockstep.coordinator.op.CheckpointResult;
import io.lockstep.coordinator.op.FailureReason;
import io.lockstep.coordinator.op.OperationFailedException;
import io.lockstep.coordinator.op.OperationListener;
import io.lockstep.coordinator.op.PhaseLog;
import io.lockstep.coordinator.testing.Invariants;
import io.lockstep.coordinator.testing.LocalCluster;
import io.lockstep.coordinator.testing.PrometheusText;
import io.lockstep.metrics.MetricsEndpoint;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.slf4j.LoggerFactory;

import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.assertj.core.api.Assertions.within;
import static org.awaitility.Awaitility.await;

/**
 * What an operator sees of a real checkpoint over two real agents: the coordinator's and the agents'
 * Prometheus endpoints (scraped over HTTP and parsed), and the log lines, one per phase per host.
 */
class ObservabilityTest {
    private static final String GROUP = "app";
    private static final List<String> HOSTS = List.of("h1", "h2");
    private static final List<String> CHECKPOINT_PHASES = List.of("freeze", "capture", "thaw", "store", "commit");

    private static LocalCluster cluster;

    @BeforeAll
    static void startApplication() throws Exception {
        cluster = LocalCluster.start(HOSTS.toArray(String[]::new));
        Path shared = cluster.dir().resolve("shared");
        Files.createDirectories(shared);
        String data = shared.resolve("data").toString();
        int p1 = cluster.run("h1", GROUP, LocalCluster.worker("fd", "500", data, "lock", "posix", "write", "500", "0",
                "100", "ready", "sleep"));
        int p2 = cluster.run("h2", GROUP, LocalCluster.worker("fd", "500", data, "lock", "posix", "write", "500", "200",
                "50", "fd", "501", shared.resolve("index").toString(), "lock", "flock", "read", "501", "0", "0", "ready", "sleep"));
        cluster.awaitReady("h1", GROUP, p1);
        cluster.awaitReady("h2", GROUP, p2);
    }

    @AfterAll
    static void stopCluster() throws Exception {
        if (cluster != null) {
            cluster.close();
        }
    }

    @Test
    void scrapedMetricsCountTheCheckpointOnTheCoordinatorAndOnEveryAgent() throws Exception {
        CoordinatorMetrics metrics = new CoordinatorMetrics();
        Map<String, MetricsEndpoint> agentEndpoints = new HashMap<>();
        try (MetricsEndpoint coordinator = MetricsEndpoint.start("127.0.0.1:0", metrics.registry())) {
            for (String host : HOSTS) {
                agentEndpoints.put(host, MetricsEndpoint.start("127.0.0.1:0", cluster.agent(host).metrics().registry()));
            }
            Map<String, PrometheusText> agentsBefore = new HashMap<>();
            for (String host : HOSTS) {
                agentsBefore.put(host, PrometheusText.scrape(agentEndpoints.get(host).port()));
            }

            CheckpointResult result = new CheckpointOperation(cluster.coordinator(), CheckpointOptions.defaults(),
                    metrics.listener()).run(GROUP);
            assertThatThrownBy(() -> new CheckpointOperation(cluster.coordinator(), CheckpointOptions.defaults(),
                    metrics.listener()).run("nobody-runs-this"))
                    .isInstanceOfSatisfying(OperationFailedException.class,
                            failure -> assertThat(failure.reason()).isEqualTo(FailureReason.UNKNOWN_GROUP));

            PrometheusText scrape = PrometheusText.scrape(coordinator.port());
            assertThat(scrape.value("lockstep_operations_total", "kind", "checkpoint", "outcome", "committed")).isEqualTo(1);
            assertThat(scrape.value("lockstep_operations_total", "kind", "checkpoint", "reason", "UNKNOWN_GROUP")).isEqualTo(1);
            assertThat(scrape.value("lockstep_operations_total", "kind", "checkpoint", "reason", "FREEZE_FAILED")).isZero();
            assertThat(scrape.value("lockstep_operations_total", "kind", "restore", "outcome", "committed")).isZero();
            for (String phase : CHECKPOINT_PHASES) {
                assertThat(scrape.value("lockstep_phase_seconds_count", "kind", "checkpoint", "phase", phase))
                        .as("phase %s", phase).isEqualTo(1);
                assertThat(scrape.value("lockstep_phase_seconds_sum", "kind", "checkpoint", "phase", phase))
                        .isCloseTo(result.phaseMicros().get(phase) / 1e6, within(1e-6));
            }
            assertHistogramOfOne(scrape, "lockstep_frozen_window_seconds", result.frozenWindowMicros() / 1e6);
            assertThat(scrape.value("lockstep_checkpoint_locks_sum")).isEqualTo(result.locks()).isGreaterThanOrEqualTo(3);
            assertThat(scrape.value("lockstep_checkpoint_files_sum")).isEqualTo(result.files());

            double agentLocks = 0;
            for (String host : HOSTS) {
                PrometheusText before = agentsBefore.get(host);
                PrometheusText after = PrometheusText.scrape(agentEndpoints.get(host).port());
                for (String phase : List.of("freeze", "capture", "fetch")) {
                    assertThat(after.value("lockstep_agent_phase_seconds_count", "phase", phase, "outcome", "ok", "host", host)
                            - before.valueOrZero("lockstep_agent_phase_seconds_count", "phase", phase, "outcome", "ok"))
                            .as("%s on %s", phase, host).isEqualTo(1);
                }
                assertThat(after.value("lockstep_agent_frozen_window_seconds_count")
                        - before.value("lockstep_agent_frozen_window_seconds_count")).isEqualTo(1);
                agentLocks += after.value("lockstep_agent_captured_locks_sum") - before.value("lockstep_agent_captured_locks_sum");
                assertThat(after.value("lockstep_agent_zookeeper_connected", "host", host)).isEqualTo(1);
                assertThat(after.value("lockstep_agent_groups_managed")).isEqualTo(1);
                assertThat(after.value("lockstep_agent_groups_frozen")).isZero();
                assertThat(after.value("lockstep_agent_stubs_running")).isZero();
            }
            assertThat(agentLocks).as("locks the agents captured, summed").isEqualTo(result.locks());
        } finally {
            agentEndpoints.values().forEach(MetricsEndpoint::close);
        }
        Invariants.assertAll(cluster);
    }

    /** `agent serve --metrics-listen` in its own JVM: the endpoint it prints is scraped after a checkpoint of its group. */
    @Test
    void agentServeWithMetricsListenServesTheAgentsMetrics() throws Exception {
        cluster.startAgentProcess("h3", List.of("--metrics-listen", "127.0.0.1:0"));
        Pattern address = Pattern.compile("metrics at http://127\\.0\\.0\\.1:(\\d+)/metrics");
        await("agent h3 prints its metrics address").atMost(Duration.ofSeconds(60))
                .until(() -> address.matcher(cluster.agentProcessLog("h3")).find());
        Matcher printed = address.matcher(cluster.agentProcessLog("h3"));
        assertThat(printed.find()).isTrue();
        int port = Integer.parseInt(printed.group(1));
        Path file = cluster.dir().resolve("solo-data");
        int pid = cluster.run("h3", "solo", LocalCluster.worker("fd", "500", file.toString(), "lock", "posix", "write",
                "500", "0", "10", "ready", "sleep"));
        cluster.awaitReady("h3", "solo", pid);

        CheckpointResult result = new CheckpointOperation(cluster.coordinator(), CheckpointOptions.defaults(),
                OperationListener.SILENT).run("solo");

        PrometheusText scrape = PrometheusText.scrape(port);
        for (String phase : List.of("freeze", "capture", "fetch")) {
            assertThat(scrape.value("lockstep_agent_phase_seconds_count", "phase", phase, "outcome", "ok", "host", "h3"))
                    .as(phase).isEqualTo(1);
        }
        assertThat(scrape.value("lockstep_agent_captured_locks_sum", "host", "h3")).isEqualTo(result.locks()).isEqualTo(1);
        assertThat(scrape.value("lockstep_agent_frozen_window_seconds_count", "host", "h3")).isEqualTo(1);
        assertThat(scrape.value("lockstep_agent_zookeeper_connected", "host", "h3")).isEqualTo(1);
        assertThat(scrape.value("lockstep_agent_groups_managed", "host", "h3")).isEqualTo(1);
        assertThat(scrape.value("lockstep_agent_groups_frozen", "host", "h3")).isZero();
        Invariants.assertAll(cluster);
    }

    @Test
    void logsOneLinePerPhasePerHostWithOpIdAndEpoch() throws Exception {
        ListAppender<ILoggingEvent> lines = new ListAppender<>();
        lines.start();
        Logger root = (Logger) LoggerFactory.getLogger(org.slf4j.Logger.ROOT_LOGGER_NAME);
        root.addAppender(lines);
        try {
            CheckpointResult result = new CheckpointOperation(cluster.coordinator(), CheckpointOptions.defaults(),
                    OperationListener.SILENT).run(GROUP);
            String op = "group " + GROUP + " op " + result.checkpointId() + " epoch " + result.epoch();
            // The agents log their thaw once the group runs again, off the reply's path.
            await("every agent logged its thaw of " + result.checkpointId()).atMost(Duration.ofSeconds(30))
                    .until(() -> count(lines, CheckpointParticipant.class, op + " host ", ": thawed") == HOSTS.size());
            for (String host : HOSTS) {
                for (String phase : List.of("freeze", "capture", "thaw")) {
                    assertThat(count(lines, PhaseLog.class, op + " host " + host + ": " + phase + " ", ""))
                            .as("coordinator lines for %s on %s", phase, host).isEqualTo(1);
                }
                for (String agentPhase : List.of("armed", "frozen", "captured", "thawed")) {
                    assertThat(count(lines, CheckpointParticipant.class, op + " host " + host + ": " + agentPhase, ""))
                            .as("agent lines for %s on %s", agentPhase, host).isEqualTo(1);
                }
            }
            assertThat(count(lines, PhaseLog.class, op + ": commit done", "")).isEqualTo(1);
        } finally {
            root.detachAppender(lines);
        }
        Invariants.assertAll(cluster);
    }

    private static long count(ListAppender<ILoggingEvent> lines, Class<?> logger, String prefix, String contains) {
        synchronized (lines.list) {
            return lines.list.stream()
                    .filter(event -> event.getLoggerName().equals(logger.getName()))
                    .map(ILoggingEvent::getFormattedMessage)
                    .filter(message -> message.startsWith(prefix) && message.contains(contains))
                    .count();
        }
    }

    /** A histogram with one observation: count 1, the sum is the value, buckets cumulative up to +Inf. */
    private static void assertHistogramOfOne(PrometheusText scrape, String name, double seconds) {
        assertThat(scrape.value(name + "_count")).isEqualTo(1);
        assertThat(scrape.value(name + "_sum")).isCloseTo(seconds, within(1e-6));
        List<PrometheusText.Sample> buckets = scrape.matching(name + "_bucket");
        assertThat(buckets).hasSizeGreaterThan(2);
        double previous = 0;
        for (PrometheusText.Sample bucket : buckets) {
            double le = Double.parseDouble(bucket.labels().get("le").replace("Inf", "Infinity"));
            assertThat(bucket.value()).as("bucket le=%s", le).isEqualTo(le >= seconds ? 1 : 0).isGreaterThanOrEqualTo(previous);
            previous = bucket.value();
        }
    }
}
