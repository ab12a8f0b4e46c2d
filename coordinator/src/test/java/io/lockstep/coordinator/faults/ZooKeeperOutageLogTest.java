package io.lockstep.coordinator.faults;

import io.lockstep.coordinator.testing.LocalCluster;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

import java.time.Duration;
import java.util.List;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

/**
 * ZooKeeper stops and comes back: an agent (its own JVM, logging as deployed) writes one line per
 * change of its connection, its own, and no stack traces of the client libraries' retries.
 */
class ZooKeeperOutageLogTest {
    private LocalCluster cluster;

    @AfterEach
    void tearDown() throws Exception {
        if (cluster != null) {
            cluster.close();
        }
    }

    @Test
    void anAgentLogsOneLinePerConnectionChangeAndNoStackTraces() throws Exception {
        cluster = LocalCluster.start();
        cluster.startAgentProcess("h1");
        int before = cluster.agentProcessLog("h1").length();

        cluster.zkServer().stop();
        // Lost: the session timeout passes while the server is down.
        await("the agent logs the lost connection and session").atMost(Duration.ofSeconds(60))
                .until(() -> since(before).contains("ZooKeeper session lost"));
        cluster.zkServer().restart();
        await("the agent logs that it is back").atMost(Duration.ofSeconds(60))
                .until(() -> since(before).contains("ZooKeeper reconnected"));

        List<String> lines = since(before).lines().toList();
        assertThat(lines).as(String.join("\n", lines)).noneMatch(line -> line.startsWith("\tat ") || line.contains("Exception"))
                .anyMatch(line -> line.contains("ZooKeeper connection lost"))
                .hasSizeLessThan(10);
    }

    private String since(int offset) throws Exception {
        return cluster.agentProcessLog("h1").substring(offset);
    }
}
