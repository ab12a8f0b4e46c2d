package io.lockstep.coordinator.testing;

import org.apache.curator.framework.CuratorFramework;
import org.apache.curator.test.InstanceSpec;
import org.apache.curator.test.TestingCluster;

import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.InetSocketAddress;
import java.net.Socket;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Set;
import java.util.stream.Stream;

import static org.awaitility.Awaitility.await;

/**
 * A real 3-server ZooKeeper ensemble (curator-test {@link TestingCluster}, in this JVM, on free
 * loopback ports) whose servers a test kills and restarts: the leader, a follower, or two of three
 * (quorum lost). Roles are read from each server itself ({@code srvr}), not guessed.
 */
public final class ZkEnsemble implements AutoCloseable {
    /** ZooKeeper grants session timeouts between 2 and 20 ticks: 1 s ticks allow the tests' 4 s sessions. */
    private static final int TICK_MS = 1000;
    /** Election plus the followers' sync; generous for a loaded 2-core machine. */
    private static final Duration QUORUM_TIMEOUT = Duration.ofSeconds(60);

    private final TestingCluster cluster;
    private final Path dataRoot;
    private final Set<InstanceSpec> killed = new LinkedHashSet<>();

    private ZkEnsemble(TestingCluster cluster, Path dataRoot) {
        this.cluster = cluster;
        this.dataRoot = dataRoot;
    }

    public static ZkEnsemble start() throws Exception {
        Path dataRoot = Files.createTempDirectory("lockstep-zk-ensemble-");
        List<InstanceSpec> specs = new ArrayList<>();
        for (int id = 1; id <= 3; id++) {
            Path data = Files.createDirectories(dataRoot.resolve("server" + id));
            specs.add(new InstanceSpec(data.toFile(), -1, -1, -1, true, id, TICK_MS, -1, Map.of(), "127.0.0.1"));
        }
        ZkEnsemble ensemble = new ZkEnsemble(new TestingCluster(specs), dataRoot);
        try {
            ensemble.cluster.start();
            ensemble.awaitQuorum();
            return ensemble;
        } catch (Exception e) {
            ensemble.close();
            throw e;
        }
    }

    public String connectString() {
        return cluster.getConnectString();
    }

    /** What a server says it is: "leader", "follower", or empty while it is not serving (down, electing). */
    public Optional<String> mode(InstanceSpec server) {
        try (Socket socket = new Socket()) {
            socket.connect(new InetSocketAddress("127.0.0.1", server.getPort()), 2000);
            socket.setSoTimeout(5000);
            OutputStream out = socket.getOutputStream();
            out.write("srvr".getBytes(StandardCharsets.US_ASCII));
            out.flush();
            InputStream in = socket.getInputStream();
            String reply = new String(in.readAllBytes(), StandardCharsets.US_ASCII);
            return reply.lines().filter(line -> line.startsWith("Mode: ")).map(line -> line.substring(6).trim()).findFirst();
        } catch (IOException notServing) {
            return Optional.empty();
        }
    }

    public InstanceSpec leader() {
        return cluster.getInstances().stream().filter(s -> mode(s).orElse("").equals("leader")).findFirst()
                .orElseThrow(() -> new IllegalStateException("no server of the ensemble " + connectString() + " leads"));
    }

    /** A follower, preferably the one {@code client} is connected to, so that killing it cuts that client off. */
    public InstanceSpec follower(CuratorFramework client) throws Exception {
        InstanceSpec connected = cluster.findConnectionInstance(client.getZookeeperClient().getZooKeeper());
        if (connected != null && mode(connected).orElse("").equals("follower")) {
            return connected;
        }
        return cluster.getInstances().stream().filter(s -> mode(s).orElse("").equals("follower")).findFirst()
                .orElseThrow(() -> new IllegalStateException("no follower in the ensemble " + connectString()));
    }

    public void kill(InstanceSpec server) throws Exception {
        if (!cluster.killServer(server)) {
            throw new IllegalStateException("could not kill ZooKeeper server " + server.getServerId());
        }
        killed.add(server);
    }

    /** Kills two of the three servers, the leader among them: no quorum is left. */
    public void loseQuorum() throws Exception {
        InstanceSpec leader = leader();
        kill(leader);
        kill(cluster.getInstances().stream().filter(s -> !s.equals(leader)).findFirst().orElseThrow());
    }

    /** Restarts every killed server and waits until the ensemble has a leader and two followers. */
    public void restoreAll() throws Exception {
        for (InstanceSpec server : List.copyOf(killed)) {
            cluster.restartServer(server);
            killed.remove(server);
        }
        awaitQuorum();
    }

    public void awaitQuorum() {
        await("ZooKeeper ensemble " + connectString() + " has a leader and two followers").atMost(QUORUM_TIMEOUT)
                .until(() -> {
                    List<String> modes = cluster.getInstances().stream().map(s -> mode(s).orElse("")).sorted().toList();
                    return modes.equals(List.of("follower", "follower", "leader"));
                });
    }

    @Override
    public void close() throws IOException {
        try {
            cluster.close();
        } finally {
            try (Stream<Path> files = Files.walk(dataRoot)) {
                files.sorted(Comparator.reverseOrder()).forEach(path -> path.toFile().delete());
            }
        }
    }
}
