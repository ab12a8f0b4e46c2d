package io.lockstep.coordinator.deploy;

import io.lockstep.coordinator.testing.NamespacedServices;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;

import static io.lockstep.coordinator.deploy.DockerComposeTest.map;
import static io.lockstep.coordinator.deploy.DockerComposeTest.strings;
import static io.lockstep.coordinator.deploy.DockerComposeTest.volumes;
import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

/**
 * docker-compose.yml as shipped, started the way Compose would start it, without a Docker engine:
 * every service's exact command and environment (as {@code docker-compose config} renders them)
 * as a process in its own network, mount and UTS namespace ({@link NamespacedServices}): its
 * hostname, every service name resolvable, its volumes at their targets. The three ZooKeeper
 * services run what the zookeeper image runs for their environment (ZOO_MY_ID, ZOO_SERVERS). Then,
 * as README "Deploying" says: a program started in group demo through agent1's socket, a checkpoint
 * committed by {@code coordinator serve} over mutual TLS and ACL-protected ZooKeeper, and every
 * /metrics port scraped from the compose network.
 */
class ComposeDeploymentTest {
    private static final List<String> ZOOKEEPERS = List.of("zk1", "zk2", "zk3");
    private static final List<String> AGENTS = List.of("agent1", "agent2", "agent3");

    @TempDir
    Path tmp;

    @Test
    void theComposeFileStartsAndItsCoordinatorCommitsACheckpointOverMutualTls() throws Exception {
        Map<String, Object> config = DockerComposeTest.dockerComposeConfig(tmp);
        Map<String, Object> services = map(config, "services");
        Map<String, List<String>> names = new LinkedHashMap<>();
        for (String service : services.keySet()) {
            Object hostname = map(services, service).get("hostname");
            names.put(service, hostname == null || hostname.equals(service) ? List.of() : List.of(hostname.toString()));
        }
        try (NamespacedServices deployment = NamespacedServices.start(names)) {
            Map<String, Path> volumes = new LinkedHashMap<>();
            for (String zk : ZOOKEEPERS) {
                startZooKeeper(deployment, zk, map(services, zk), volumes);
            }
            for (String zk : ZOOKEEPERS) {
                // The image's healthcheck (zkServer.sh status) asks "srvr": a member in a quorum names its mode.
                await("ZooKeeper " + zk + " serves in a quorum").atMost(Duration.ofSeconds(120)).pollInterval(Duration.ofSeconds(1))
                        .until(() -> srvr(deployment, zk).matches("(?s).*Mode: (leader|follower).*"));
            }
            NamespacedServices.Exec tlsInit = runOnce(deployment, "tls-init", map(services, "tls-init"), volumes);
            assertThat(tlsInit.exit()).as("tls-init: %s", tlsInit.output()).isZero();
            for (String agent : AGENTS) {
                Map<String, Object> service = map(services, agent);
                List<String> command = strings(service, "command");
                deployment.ownsCgroupRoot(command.get(command.indexOf("--cgroup-root") + 1));
                start(deployment, agent, service, volumes);
            }
            for (String agent : AGENTS) {
                awaitServing(deployment, agent);
                await(agent + " answers `agent status` on its socket").atMost(Duration.ofSeconds(120)).pollInterval(Duration.ofSeconds(2))
                        .until(() -> exitedOrAnswers(deployment, agent, environment(map(services, agent))));
            }
            // README: docker compose exec agent1 agent run --group demo --uid 1000 --gid 1000 -- …
            NamespacedServices.Exec run = deployment.exec("agent1", List.of("agent", "run", "--group", "demo", "--uid", "1000",
                    "--gid", "1000", "--", "/bin/sh", "-c", "exec sleep 600"), environment(map(services, "agent1")));
            assertThat(run.exit()).as("agent run in agent1: %s", run.output()).isZero();

            start(deployment, "coordinator", map(services, "coordinator"), volumes);
            await("coordinator serve commits a checkpoint of demo").atMost(Duration.ofSeconds(180))
                    .pollInterval(Duration.ofSeconds(1))
                    .until(() -> !deployment.process("coordinator").isAlive()
                            || scrape(deployment, "coordinator").contains(
                            "lockstep_operations_total{kind=\"checkpoint\",outcome=\"committed\",reason=\"none\"} 1.0"));
            assertThat(deployment.process("coordinator").isAlive()).as(deployment.logText("coordinator")).isTrue();
            for (String agent : AGENTS) {
                String node = "node" + agent.substring("agent".length());
                assertThat(scrape(deployment, agent)).as(agent + " /metrics")
                        .contains("lockstep_agent_zookeeper_connected{host=\"" + node + "\"} 1.0");
            }
            assertThat(scrape(deployment, "agent1")).contains("lockstep_agent_phase_seconds_count{host=\"node1\",outcome=\"ok\",phase=\"freeze\"} 1");
            assertThat(deployment.logText("agent1")).contains("mutual TLS").contains("local socket /run/lockstep/agent.sock");
        }
    }

    /** What the zookeeper image's entrypoint does with ZOO_MY_ID and ZOO_SERVERS, then the server in the foreground. */
    private static void startZooKeeper(NamespacedServices deployment, String name, Map<String, Object> service,
                                       Map<String, Path> volumes) throws IOException {
        startZooKeeper(deployment, name, hostname(name, service), environment(service), mounts(deployment, service, volumes));
    }

    static void startZooKeeper(NamespacedServices deployment, String name, String hostname, Map<String, String> env,
                               List<NamespacedServices.Mount> mounts) throws IOException {
        Path data = mounts.stream().filter(m -> m.target().equals(Path.of("/data"))).findFirst().orElseThrow().source();
        Files.createDirectories(data);
        Files.writeString(data.resolve("myid"), env.get("ZOO_MY_ID") + "\n");
        StringBuilder cfg = new StringBuilder("dataDir=/data\ndataLogDir=/datalog\ntickTime=2000\ninitLimit=5\nsyncLimit=2\n"
                + "maxClientCnxns=60\nstandaloneEnabled=" + env.getOrDefault("ZOO_STANDALONE_ENABLED", "true") + "\n"
                // The image's admin server (Jetty) is not on this class path; it serves no Lockstep client.
                + "admin.enableServer=false\n4lw.commands.whitelist=srvr\n");
        for (String server : env.get("ZOO_SERVERS").split("\\s+")) {
            cfg.append(server).append('\n');
        }
        Path file = deployment.dir().resolve(name + "-zoo.cfg");
        Files.writeString(file, cfg.toString(), StandardCharsets.UTF_8);
        List<String> command = List.of(io.lockstep.coordinator.testing.LocalCluster.javaBinary(), "-Xmx128m",
                "-XX:TieredStopAtLevel=1", "-cp", System.getProperty("java.class.path"),
                "org.apache.zookeeper.server.quorum.QuorumPeerMain", file.toString());
        deployment.start(name, hostname, command, env, mounts);
    }

    private static Process start(NamespacedServices deployment, String name, Map<String, Object> service,
                                 Map<String, Path> volumes) throws IOException {
        return deployment.start(name, hostname(name, service), strings(service, "command"), environment(service),
                mounts(deployment, service, volumes));
    }

    private static NamespacedServices.Exec runOnce(NamespacedServices deployment, String name, Map<String, Object> service,
                                                   Map<String, Path> volumes) throws Exception {
        Process process = start(deployment, name, service, volumes);
        if (!process.waitFor(120, TimeUnit.SECONDS)) {
            throw new AssertionError(name + " did not end within 120 s: " + deployment.logText(name));
        }
        return new NamespacedServices.Exec(process.exitValue(), deployment.logText(name));
    }

    /**
     * Until the agent logs that it serves, reading its log: every poll of `agent status` is a JVM start, which on
     * 2 cores slows the agents it waits for.
     */
    static void awaitServing(NamespacedServices deployment, String agent) {
        await(agent + " logs that it serves").atMost(Duration.ofSeconds(120)).pollInterval(Duration.ofMillis(200))
                .until(() -> {
                    if (!deployment.process(agent).isAlive()) {
                        throw new AssertionError(agent + " exited: " + deployment.logText(agent));
                    }
                    return deployment.logText(agent).contains(" serving on ");
                });
    }

    private static boolean exitedOrAnswers(NamespacedServices deployment, String agent, Map<String, String> env) throws Exception {
        if (!deployment.process(agent).isAlive()) {
            throw new AssertionError(agent + " exited: " + deployment.logText(agent));
        }
        return deployment.exec(agent, List.of("agent", "status", "--rpc-timeout", "5s"), env).exit() == 0;
    }

    /** GET http://SERVICE:PORT/metrics from another namespace of the compose network, as a scraper would. */
    static String scrape(NamespacedServices deployment, String service) throws Exception {
        Process curl = new ProcessBuilder("nsenter", "--net=/run/netns/" + deployment.namespace(service), "--", "curl",
                "-sf", "--max-time", "10", "http://" + deployment.address(service) + ":9464/metrics")
                .redirectErrorStream(true).start();
        String body = new String(curl.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        curl.waitFor(20, TimeUnit.SECONDS);
        return body;
    }

    static String srvr(NamespacedServices deployment, String zk) throws Exception {
        if (!deployment.process(zk).isAlive()) {
            throw new AssertionError(zk + " exited: " + deployment.logText(zk));
        }
        Process probe = new ProcessBuilder("nsenter", "--net=/run/netns/" + deployment.namespace(zk), "--", "bash", "-c",
                "exec 3<>/dev/tcp/" + deployment.address(zk) + "/2181 && printf srvr >&3 && timeout 5 cat <&3")
                .redirectErrorStream(true).start();
        String answer = new String(probe.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        probe.waitFor(20, TimeUnit.SECONDS);
        return answer;
    }

    private static String hostname(String name, Map<String, Object> service) {
        Object hostname = service.get("hostname");
        return hostname == null ? name : hostname.toString();
    }

    private static Map<String, String> environment(Map<String, Object> service) {
        Map<String, String> env = new LinkedHashMap<>();
        Object declared = service.get("environment");
        if (declared instanceof Map<?, ?> values) {
            values.forEach((key, value) -> env.put(key.toString(), value == null ? "" : value.toString()));
        } else if (declared instanceof List<?> entries) {
            for (Object entry : entries) {
                String text = entry.toString();
                int eq = text.indexOf('=');
                env.put(eq < 0 ? text : text.substring(0, eq), eq < 0 ? "" : text.substring(eq + 1));
            }
        }
        return env;
    }

    /** Named volumes are directories of this deployment, shared by every service that mounts them (as Docker's are). */
    private static List<NamespacedServices.Mount> mounts(NamespacedServices deployment, Map<String, Object> service,
                                                         Map<String, Path> volumes) {
        List<NamespacedServices.Mount> mounts = new ArrayList<>();
        for (DockerComposeTest.Volume volume : volumes(service)) {
            Path source = volume.isNamedVolume()
                    ? volumes.computeIfAbsent(volume.source(), name -> deployment.dir().resolve("volume-" + name))
                    : Path.of(volume.source());
            mounts.add(new NamespacedServices.Mount(source, Path.of(volume.target())));
        }
        return mounts;
    }
}
