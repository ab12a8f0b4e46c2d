package io.lockstep.coordinator.deploy;

import io.lockstep.coordinator.cli.CliRun;
import io.lockstep.coordinator.testing.NamespacedServices;
import org.junit.jupiter.api.Test;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.UUID;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

/**
 * packaging/systemd as README "Deploying" installs it, on three hosts node1..3 and a coordinator
 * host, each a network, mount and UTS namespace ({@link NamespacedServices}; ZooKeeper ensemble
 * zk1..3.example.net, the names of the example env files). Each unit's ExecStart runs as systemd
 * would run it: its Environment= defaults, then the example env file (EnvironmentFile=), ${VAR}
 * as one argument, $VAR split on whitespace, %H the host name; its StateDirectory= and
 * /etc/lockstep/tls mounted. Per host the env file adds what an operator sets per host on one
 * machine shared by three "hosts": a cgroup root of its own, and the metrics endpoint (the
 * example's commented --metrics-listen). Then a program in group demo through node1's socket,
 * a checkpoint committed by the coordinator unit over mutual TLS and ACL-protected ZooKeeper, and
 * every /metrics port scraped.
 */
class SystemdDeploymentTest {
    private static final Path UNITS = repositoryRoot().resolve("packaging/systemd");
    private static final List<String> ZOOKEEPERS = List.of("zk1", "zk2", "zk3");
    private static final List<String> NODES = List.of("node1", "node2", "node3");
    private static final Pattern BRACED = Pattern.compile("\\$\\{(\\w+)}");

    @Test
    void theUnitsWithTheirDefaultsAndExampleEnvFilesCommitACheckpointOverMutualTls() throws Exception {
        Unit agentUnit = Unit.read(UNITS.resolve("lockstep-agent.service"));
        Unit coordinatorUnit = Unit.read(UNITS.resolve("lockstep-coordinator.service"));
        String id = UUID.randomUUID().toString().substring(0, 8);
        Map<String, List<String>> names = new LinkedHashMap<>();
        ZOOKEEPERS.forEach(zk -> names.put(zk, List.of(zk + ".example.net")));
        NODES.forEach(node -> names.put(node, List.of()));
        names.put("coordinator", List.of());
        try (NamespacedServices deployment = NamespacedServices.start(names)) {
            String servers = String.join(" ", ZOOKEEPERS.stream()
                    .map(zk -> "server." + zk.substring(2) + "=" + zk + ".example.net:2888:3888;2181").toList());
            for (String zk : ZOOKEEPERS) {
                ComposeDeploymentTest.startZooKeeper(deployment, zk, zk, Map.of("ZOO_MY_ID", zk.substring(2),
                        "ZOO_SERVERS", servers, "ZOO_STANDALONE_ENABLED", "false"), List.of(
                        new NamespacedServices.Mount(deployment.dir().resolve(zk + "-data"), Path.of("/data")),
                        new NamespacedServices.Mount(deployment.dir().resolve(zk + "-datalog"), Path.of("/datalog"))));
            }
            for (String zk : ZOOKEEPERS) {
                await("ZooKeeper " + zk + " serves in a quorum").atMost(Duration.ofSeconds(120)).pollInterval(Duration.ofSeconds(1))
                        .until(() -> ComposeDeploymentTest.srvr(deployment, zk).matches("(?s).*Mode: (leader|follower).*"));
            }
            // README "Deploying", certificates: one command, then each host gets its own as agent.pem.
            Path pki = deployment.dir().resolve("pki");
            CliRun init = CliRun.of("tls", "init", "--hosts", String.join(",", NODES), "--out", pki.toString());
            assertThat(init.exit()).as(init.toString()).isZero();

            Map<String, Map<String, String>> agentEnv = new LinkedHashMap<>();
            for (String node : NODES) {
                Path tls = Files.createDirectories(deployment.dir().resolve("tls-" + node));
                Files.copy(pki.resolve("agent-" + node + ".pem"), tls.resolve("agent.pem"));
                Files.copy(pki.resolve("agent-" + node + "-key.pem"), tls.resolve("agent-key.pem"));
                Files.copy(pki.resolve("ca.pem"), tls.resolve("ca.pem"));
                String cgroupRoot = "lockstep-test-" + id + "-" + node;
                deployment.ownsCgroupRoot(cgroupRoot);
                Map<String, String> env = agentUnit.environment(node, envFile(UNITS.resolve("agent.env.example"),
                        "LOCKSTEP_CGROUP_ROOT=" + cgroupRoot, "LOCKSTEP_AGENT_OPTS=--metrics-listen 0.0.0.0:9464"));
                agentEnv.put(node, env);
                deployment.start(node, node, agentUnit.command(env, node), env, List.of(
                        new NamespacedServices.Mount(deployment.dir().resolve("state-" + node), Path.of("/var/lib/lockstep/agent")),
                        new NamespacedServices.Mount(tls, Path.of("/etc/lockstep/tls"))));
            }
            for (String node : NODES) {
                ComposeDeploymentTest.awaitServing(deployment, node);
                await(node + " answers `agent status` on its socket").atMost(Duration.ofSeconds(120))
                        .pollInterval(Duration.ofSeconds(2)).until(() -> {
                            if (!deployment.process(node).isAlive()) {
                                throw new AssertionError(node + " exited: " + deployment.logText(node));
                            }
                            return deployment.exec(node, List.of("agent", "status", "--rpc-timeout", "5s"), agentEnv.get(node)).exit() == 0;
                        });
            }
            NamespacedServices.Exec run = deployment.exec("node1", List.of("agent", "run", "--group", "demo", "--uid", "1000",
                    "--gid", "1000", "--", "/bin/sh", "-c", "exec sleep 600"), agentEnv.get("node1"));
            assertThat(run.exit()).as("agent run on node1: %s", run.output()).isZero();

            Path coordinatorTls = Files.createDirectories(deployment.dir().resolve("tls-coordinator"));
            for (String file : List.of("coordinator.pem", "coordinator-key.pem", "ca.pem")) {
                Files.copy(pki.resolve(file), coordinatorTls.resolve(file));
            }
            Map<String, String> coordinatorEnv = coordinatorUnit.environment("coordinator", envFile(
                    UNITS.resolve("coordinator.env.example"), "LOCKSTEP_COORDINATOR_OPTS=--metrics-listen 0.0.0.0:9464"));
            deployment.start("coordinator", "coordinator", coordinatorUnit.command(coordinatorEnv, "coordinator"), coordinatorEnv,
                    List.of(new NamespacedServices.Mount(deployment.dir().resolve("state-coordinator"), Path.of("/var/lib/lockstep")),
                            new NamespacedServices.Mount(coordinatorTls, Path.of("/etc/lockstep/tls"))));
            await("the coordinator unit commits a checkpoint of demo").atMost(Duration.ofSeconds(180))
                    .pollInterval(Duration.ofSeconds(1))
                    .until(() -> !deployment.process("coordinator").isAlive()
                            || ComposeDeploymentTest.scrape(deployment, "coordinator").contains(
                            "lockstep_operations_total{kind=\"checkpoint\",outcome=\"committed\",reason=\"none\"} 1.0"));
            assertThat(deployment.process("coordinator").isAlive()).as(deployment.logText("coordinator")).isTrue();
            for (String node : NODES) {
                assertThat(ComposeDeploymentTest.scrape(deployment, node)).as(node + " /metrics")
                        .contains("lockstep_agent_zookeeper_connected{host=\"" + node + "\"} 1.0");
            }
            assertThat(deployment.logText("node1")).contains("mutual TLS").contains("local socket /run/lockstep/agent.sock");
        }
    }

    /** An env file (KEY=value lines, # comments) as systemd reads it, plus {@code extra} lines appended. */
    private static Map<String, String> envFile(Path file, String... extra) throws IOException {
        List<String> lines = new ArrayList<>(Files.readAllLines(file, StandardCharsets.UTF_8));
        lines.addAll(List.of(extra));
        Map<String, String> env = new LinkedHashMap<>();
        for (String line : lines) {
            String trimmed = line.trim();
            if (trimmed.isEmpty() || trimmed.startsWith("#") || !trimmed.contains("=")) {
                continue;
            }
            env.put(trimmed.substring(0, trimmed.indexOf('=')), trimmed.substring(trimmed.indexOf('=') + 1));
        }
        return env;
    }

    /** The parts of a unit file this test runs: Environment= defaults and ExecStart=. */
    private record Unit(Path file, Map<String, String> defaults, List<String> environmentFiles, String execStart) {
        static Unit read(Path file) throws IOException {
            Map<String, String> defaults = new LinkedHashMap<>();
            List<String> environmentFiles = new ArrayList<>();
            String execStart = null;
            String text = Files.readString(file, StandardCharsets.UTF_8).replace("\\\n", " ");
            for (String line : text.split("\n")) {
                if (line.startsWith("Environment=")) {
                    String assignment = line.substring("Environment=".length());
                    defaults.put(assignment.substring(0, assignment.indexOf('=')), assignment.substring(assignment.indexOf('=') + 1));
                } else if (line.startsWith("EnvironmentFile=")) {
                    environmentFiles.add(line.substring("EnvironmentFile=".length()));
                } else if (line.startsWith("ExecStart=")) {
                    execStart = line.substring("ExecStart=".length()).trim();
                }
            }
            assertThat(execStart).as(file + " ExecStart=").isNotNull();
            return new Unit(file, defaults, environmentFiles, execStart);
        }

        /** The service's environment: the defaults (%H expanded), then the env file's values. */
        Map<String, String> environment(String hostname, Map<String, String> envFile) {
            assertThat(environmentFiles).as(file + " EnvironmentFile=").hasSize(1);
            Map<String, String> env = new LinkedHashMap<>();
            defaults.forEach((key, value) -> env.put(key, value.replace("%H", hostname)));
            env.putAll(envFile);
            return env;
        }

        /** ExecStart= split into arguments with systemd's rules for ${VAR}, $VAR and %H. */
        List<String> command(Map<String, String> env, String hostname) {
            List<String> argv = new ArrayList<>();
            for (String word : execStart.replace("%H", hostname).trim().split("\\s+")) {
                if (word.matches("\\$\\w+")) {
                    String value = env.getOrDefault(word.substring(1), "").trim();
                    if (!value.isEmpty()) {
                        argv.addAll(List.of(value.split("\\s+")));
                    }
                    continue;
                }
                Matcher matcher = BRACED.matcher(word);
                StringBuilder expanded = new StringBuilder();
                while (matcher.find()) {
                    matcher.appendReplacement(expanded, Matcher.quoteReplacement(env.getOrDefault(matcher.group(1), "")));
                }
                matcher.appendTail(expanded);
                argv.add(expanded.toString());
            }
            return argv;
        }
    }

    private static Path repositoryRoot() {
        for (Path dir = Path.of("").toAbsolutePath(); dir != null; dir = dir.getParent()) {
            if (Files.isRegularFile(dir.resolve("pom.xml")) && Files.isDirectory(dir.resolve("packaging/systemd"))) {
                return dir;
            }
        }
        throw new AssertionError("cannot find the repository root (pom.xml + packaging/systemd) above " + Path.of("").toAbsolutePath());
    }
}
