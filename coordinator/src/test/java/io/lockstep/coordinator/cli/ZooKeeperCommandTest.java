package io.lockstep.coordinator.cli;

import io.lockstep.coordinator.embedded.EmbeddedZooKeeper;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Path;
import java.time.Duration;

import static org.assertj.core.api.Assertions.assertThat;

class ZooKeeperCommandTest {
    @TempDir
    Path stateDir;

    @AfterEach
    void alwaysStop() throws Exception {
        new EmbeddedZooKeeper(stateDir, Duration.ofSeconds(60)).stop();
    }

    @Test
    void startStatusStopAndCommandsUseTheLocalServerWithoutZkOption() throws Exception {
        String dir = stateDir.toString();

        CliRun before = CliRun.of("zookeeper", "status", "--state-dir", dir);
        assertThat(before.exit()).as(before.toString()).isEqualTo(ExitCode.ZK_UNAVAILABLE.code());
        assertThat(before.out()).contains("no local ZooKeeper running in " + dir);

        CliRun start = CliRun.of("zookeeper", "start", "--state-dir", dir);
        assertThat(start.exit()).as(start.toString()).isZero();
        assertThat(start.out()).startsWith("started local ZooKeeper at 127.0.0.1:");
        assertThat(CliRun.of("zookeeper", "start", "--state-dir", dir).out()).startsWith("already running:");

        CliRun status = CliRun.of("zookeeper", "status", "--state-dir", dir, "--json");
        assertThat(status.exit()).as(status.toString()).isZero();
        assertThat(status.json().getFieldsOrThrow("running").getBoolValue()).isTrue();

        // No --zk: the command finds the running local server through the state directory.
        CliRun list = CliRun.of("list", "--group", "web", "--state-dir", dir);
        assertThat(list.exit()).as(list.toString()).isEqualTo(ExitCode.NO_AGENTS.code());
        assertThat(list.err()).contains("no group web");
        assertThat(stateDir.resolve("store")).as("default store lives in the state directory").doesNotExist();

        CliRun stop = CliRun.of("zookeeper", "stop", "--state-dir", dir);
        assertThat(stop.exit()).as(stop.toString()).isZero();
        assertThat(stop.out()).contains("stopped the local ZooKeeper");
        assertThat(CliRun.of("zookeeper", "status", "--state-dir", dir).exit()).isEqualTo(ExitCode.ZK_UNAVAILABLE.code());
    }

    @Test
    void aCommandStartsTheLocalServerOnDemandAndSaysWhere() {
        CliRun status = CliRun.of("status", "--state-dir", stateDir.toString());

        assertThat(status.exit()).as(status.toString()).isZero();
        assertThat(status.err()).contains("started a local one at 127.0.0.1:", "zookeeper stop");
        assertThat(status.out()).contains("hosts: 0 alive");
    }
}
