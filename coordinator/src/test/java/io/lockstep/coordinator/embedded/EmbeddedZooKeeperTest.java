package io.lockstep.coordinator.embedded;

import io.lockstep.zk.ZkClients;
import io.lockstep.zk.ZkConnect;
import org.apache.curator.framework.CuratorFramework;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;

import static org.assertj.core.api.Assertions.assertThat;

class EmbeddedZooKeeperTest {
    private static final Duration CONNECT_TIMEOUT = Duration.ofSeconds(10);

    @TempDir
    Path stateDir;

    private EmbeddedZooKeeper local;

    @AfterEach
    void alwaysStop() throws Exception {
        if (local != null) {
            local.stop();
        }
    }

    @Test
    void startsDetectsARunningServerAndStops() throws Exception {
        local = new EmbeddedZooKeeper(stateDir, Duration.ofSeconds(60));
        assertThat(local.status().running()).isFalse();

        EmbeddedZooKeeper.Running started = local.ensureRunning();
        assertThat(started.startedNow()).isTrue();
        assertThat(started.connectString()).startsWith("127.0.0.1:");
        assertThat(ProcessHandle.of(started.pid())).hasValueSatisfying(process -> assertThat(process.isAlive()).isTrue());
        try (CuratorFramework zk = ZkClients.connect(started.connectString(), Duration.ofSeconds(10), CONNECT_TIMEOUT)) {
            zk.create().forPath("/written-before-restart", "kept".getBytes());
        }

        EmbeddedZooKeeper.Running again = local.ensureRunning();
        assertThat(again.startedNow()).isFalse();
        assertThat(again.connectString()).isEqualTo(started.connectString());
        assertThat(local.status().running()).isTrue();
        assertThat(local.status().pid()).contains(started.pid());
        // Agents find the same server through the state directory alone.
        assertThat(ZkConnect.resolve(null, stateDir, Map.of(), "/nonexistent").connectString())
                .contains(started.connectString());

        assertThat(local.stop()).isTrue();
        assertThat(local.status().running()).isFalse();
        assertThat(ProcessHandle.of(started.pid()).map(ProcessHandle::isAlive).orElse(false)).isFalse();
        assertThat(local.stop()).isFalse();

        EmbeddedZooKeeper.Running restarted = local.ensureRunning();
        assertThat(restarted.startedNow()).isTrue();
        assertThat(restarted.connectString()).as("the recorded port is reused").isEqualTo(started.connectString());
        try (CuratorFramework zk = ZkClients.connect(restarted.connectString(), Duration.ofSeconds(10), CONNECT_TIMEOUT)) {
            assertThat(zk.getData().forPath("/written-before-restart")).isEqualTo("kept".getBytes());
        }
    }

    @Test
    void listensOnLoopbackOnly() throws Exception {
        local = new EmbeddedZooKeeper(stateDir, Duration.ofSeconds(60));
        EmbeddedZooKeeper.Running started = local.ensureRunning();
        int port = Integer.parseInt(started.connectString().substring(started.connectString().indexOf(':') + 1));

        assertThat(ZkLoopback.answers(port, Duration.ofSeconds(2))).isTrue();
        String portHex = String.format(":%04X ", port);
        List<String> listening = new ArrayList<>();
        for (String table : List.of("/proc/net/tcp", "/proc/net/tcp6")) {
            for (String line : Files.readAllLines(Path.of(table))) {
                String[] fields = line.trim().split("\\s+");
                if (fields.length > 3 && (fields[1] + " ").endsWith(portHex) && fields[3].equals("0A")) {
                    listening.add(fields[1]);
                }
            }
        }
        // 127.0.0.1 is 0100007F, as IPv4 or IPv4-mapped IPv6; a wildcard bind would be all zeros.
        assertThat(listening).isNotEmpty().allSatisfy(address -> assertThat(address).contains("0100007F:"));
    }
}
