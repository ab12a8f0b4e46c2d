package io.lockstep.coordinator.testing;

import io.grpc.ManagedChannel;
import io.grpc.netty.shaded.io.grpc.netty.NettyChannelBuilder;
import io.lockstep.agent.cgroup.CgroupLayout;
import io.lockstep.agent.server.AgentConfig;
import io.lockstep.agent.server.AgentServer;
import io.lockstep.agent.server.ManagedGroup;
import io.lockstep.coordinator.checkpoint.CheckpointOperation;
import io.lockstep.coordinator.checkpoint.CheckpointOptions;
import io.lockstep.coordinator.op.CheckpointResult;
import io.lockstep.coordinator.op.CoordinatorContext;
import io.lockstep.coordinator.op.OperationListener;
import io.lockstep.coordinator.op.RestoreResult;
import io.lockstep.coordinator.restore.RestoreOperation;
import io.lockstep.coordinator.restore.RestoreOptions;
import io.lockstep.coordinator.store.CheckpointStore;
import io.lockstep.coordinator.store.FileCheckpointStore;
import io.lockstep.proto.AdoptReply;
import io.lockstep.proto.AdoptRequest;
import io.lockstep.proto.AgentGrpc;
import io.lockstep.proto.HostRecord;
import io.lockstep.proto.RunRequest;
import io.lockstep.zk.ZkClients;
import io.lockstep.zk.ZkJson;
import io.lockstep.zk.ZkLayout;
import org.apache.curator.framework.CuratorFramework;
import org.apache.curator.test.TestingServer;
import org.apache.zookeeper.KeeperException;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Clock;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.UUID;
import java.util.concurrent.TimeUnit;
import java.util.function.UnaryOperator;
import java.util.stream.Stream;

import static org.awaitility.Awaitility.await;

/**
 * A real ZooKeeper (one server of its own, or a {@link ZkEnsemble} the test owns), real agents (in
 * this JVM, each with its own ZooKeeper session, gRPC server and cgroup root, standing for one
 * host each) and a coordinator context. Unique names per
 * instance; {@link #close} kills every process the agents started, removes their cgroups and
 * the ZooKeeper root, also after a failed test.
 */
public final class LocalCluster implements AutoCloseable {
    public static final Duration SESSION_TIMEOUT = Duration.ofSeconds(4);
    /** The shortest session the clusters' ZooKeeper servers grant (curator-test: one tick of 1 s). */
    public static final Duration MIN_SESSION_TIMEOUT = Duration.ofSeconds(1);

    private final String id = UUID.randomUUID().toString().substring(0, 8);
    /** The single server this cluster started and owns; null on an ensemble. */
    private final TestingServer zkServer;
    private final String zkConnect;
    private final Path dir;
    /** Of the agents and the coordinator: {@link #SESSION_TIMEOUT} unless started with another. */
    private final Duration sessionTimeout;
    private final String zkRoot = "/lockstep-test-" + id;
    private final Map<String, AgentServer> agents = new LinkedHashMap<>();
    private final Map<String, Process> agentProcesses = new LinkedHashMap<>();
    private final List<String> hostsEverStarted = new ArrayList<>();
    private final List<Path> exports = new ArrayList<>();
    private CuratorFramework coordinatorZk;
    private CoordinatorContext context;
    private CheckpointStore store;

    private LocalCluster(TestingServer zkServer, String zkConnect, Duration sessionTimeout) throws IOException {
        this.zkServer = zkServer;
        this.zkConnect = zkConnect;
        this.sessionTimeout = sessionTimeout;
        this.dir = Files.createTempDirectory("lockstep-" + id + "-");
    }

    public static LocalCluster start(String... hostIds) throws Exception {
        return startWithSessionTimeout(SESSION_TIMEOUT, hostIds);
    }

    /**
     * As {@link #start}, with agents and coordinator on ZooKeeper sessions of {@code sessionTimeout}
     * (at least {@link #MIN_SESSION_TIMEOUT}): what waits for an expiry waits that long.
     */
    public static LocalCluster startWithSessionTimeout(Duration sessionTimeout, String... hostIds) throws Exception {
        if (sessionTimeout.compareTo(MIN_SESSION_TIMEOUT) < 0) {
            throw new IllegalArgumentException("session timeout " + sessionTimeout + " below the server's minimum "
                    + MIN_SESSION_TIMEOUT);
        }
        TestingServer server = new TestingServer(true);
        LocalCluster cluster;
        try {
            cluster = new LocalCluster(server, server.getConnectString(), sessionTimeout);
        } catch (IOException e) {
            server.close();
            throw e;
        }
        // From here on, the cluster's close() also closes the server.
        return startAgents(cluster, hostIds);
    }

    /**
     * The setup most operation tests start from: agents h1 and h2 and a coordinator, each host
     * running {@code /bin/sleep 600} in {@code group}.
     */
    public static LocalCluster startTwoHostsRunning(String group) throws Exception {
        LocalCluster cluster = start("h1", "h2");
        try {
            cluster.runSleepers(group, "h1", "h2");
            return cluster;
        } catch (Exception e) {
            cluster.close();
            throw e;
        }
    }

    /** Agents and a coordinator on an ensemble the caller owns (and may share between clusters). */
    public static LocalCluster startOn(ZkEnsemble ensemble, String... hostIds) throws Exception {
        return startAgents(new LocalCluster(null, ensemble.connectString(), SESSION_TIMEOUT), hostIds);
    }

    private static LocalCluster startAgents(LocalCluster cluster, String... hostIds) throws Exception {
        try {
            for (String host : hostIds) {
                cluster.startAgent(host);
            }
            return cluster;
        } catch (Exception e) {
            cluster.close();
            throw e;
        }
    }

    public String id() {
        return id;
    }

    public TestingServer zkServer() {
        if (zkServer == null) {
            throw new IllegalStateException("cluster " + id + " runs on an ensemble, not on a server of its own");
        }
        return zkServer;
    }

    public String zkConnect() {
        return zkConnect;
    }

    public Duration sessionTimeout() {
        return sessionTimeout;
    }

    public String zkRoot() {
        return zkRoot;
    }

    public ZkLayout layout() {
        return new ZkLayout(zkRoot);
    }

    public Path dir() {
        return dir;
    }

    /** The mount source of {@link #mountExport}'s exports, as a lock's network identity records it. */
    public String exportServer() {
        return "nfs-" + id + ":/export";
    }

    /**
     * A tmpfs at {@code dir()/name} whose source reads {@code nfs-<id>:/export}: agents that count tmpfs
     * as a network file system take it for a shared NFS export (this kernel has no NFS client).
     * {@link #close()} unmounts it.
     */
    public Path mountExport(String name) throws IOException, InterruptedException {
        Path export = Files.createDirectories(dir.resolve(name));
        String server = exportServer();
        Process mount = new ProcessBuilder("mount", "-t", "tmpfs", "-o", "size=8m", server, export.toString())
                .inheritIO().start();
        if (mount.waitFor() != 0) {
            throw new IOException("mount -t tmpfs " + server + " " + export + " exited " + mount.exitValue());
        }
        exports.add(export);
        return export;
    }

    /**
     * Mounts export {@code name} ({@link #mountExport}) and starts in-JVM agents on {@code hosts} that count its
     * tmpfs as a network file system, so that they see the same shared files (the restore tests' lab).
     */
    public Path startAgentsSharingExport(String name, String... hosts) throws Exception {
        Path export = mountExport(name);
        for (String host : hosts) {
            startAgent(host, config -> config.withNetworkFsTypes(java.util.Set.of("tmpfs")));
        }
        return export;
    }

    public String cgroupRoot(String host) {
        return "lockstep-test-" + id + "-" + host;
    }

    /**
     * An agent of this cluster: plaintext loopback with --insecure-plaintext, so that the
     * coordinator and {@link #run} call it without certificates (tests of access control configure
     * TLS or the socket themselves), and its own local socket.
     */
    public AgentConfig agentConfig(String host) {
        return new AgentConfig(host, "127.0.0.1:0", zkConnect(), zkRoot, cgroupRoot(host), Optional.empty(),
                dir.resolve("agent-" + host), sessionTimeout, true)
                .withTls(Optional.empty(), true)
                .withSocket(socket(host), AgentConfig.DEFAULT_SOCKET_GROUP);
    }

    /** The host's agent's local socket. */
    public Path socket(String host) {
        return dir.resolve(host + ".sock");
    }

    public AgentServer startAgent(String host) throws Exception {
        return startAgent(host, UnaryOperator.identity());
    }

    /** Starts an agent whose configuration differs from {@link #agentConfig}, e.g. one serving mutual TLS. */
    public AgentServer startAgent(String host, UnaryOperator<AgentConfig> adjust) throws Exception {
        AgentServer agent = new AgentServer(adjust.apply(agentConfig(host))).start();
        agents.put(host, agent);
        if (!hostsEverStarted.contains(host)) {
            hostsEverStarted.add(host);
        }
        return agent;
    }

    /** Every host id an agent was started for, running or not: their cgroups may hold processes. */
    public List<String> hosts() {
        return List.copyOf(hostsEverStarted);
    }

    /**
     * Starts an agent as its own JVM (`agent serve`), for tests that need process isolation: a
     * SIGKILL that takes the agent down without a goodbye, sessions that expire on their own.
     */
    public Process startAgentProcess(String host) throws Exception {
        return startAgentProcess(host, List.of(), List.of());
    }

    /** As {@link #startAgentProcess(String)}, with more `agent serve` options. */
    public Process startAgentProcess(String host, List<String> serveOptions) throws Exception {
        return startAgentProcess(host, List.of(), serveOptions);
    }

    /** As {@link #startAgentProcess(String)}, started through {@code prefix} (e.g. a shell that sets a umask first). */
    public Process startAgentProcessThrough(String host, List<String> prefix) throws Exception {
        return startAgentProcess(host, prefix, List.of());
    }

    /** What an agent JVM printed so far (stdout and stderr). */
    public String agentProcessLog(String host) throws IOException {
        Path log = dir.resolve("agent-" + host + ".log");
        return Files.exists(log) ? Files.readString(log) : "";
    }

    /**
     * An agent JVM in a mount namespace of its own, where the shared export mounted at
     * {@code exportSource} is seen only at {@code exportMount}: each simulated host mounts the same
     * export at a different path, as NFS clients would. Its tmpfs counts as a network file system.
     */
    public Process startAgentProcessWithExportAt(String host, Path exportSource, Path exportMount) throws Exception {
        return startAgentProcessInMountNamespace(host, "mkdir -p '" + exportMount + "' && mount --bind '" + exportSource
                + "' '" + exportMount + "' && umount -l '" + exportSource + "'", List.of("--network-fs", "tmpfs"));
    }

    /**
     * An agent JVM in a mount namespace of its own, after {@code setup} (shell commands) ran in
     * that namespace: the mounts this simulated host sees. Its processes share the namespace.
     */
    public Process startAgentProcessInMountNamespace(String host, String setup, List<String> serveOptions)
            throws Exception {
        return startAgentProcess(host, List.of("unshare", "--mount", "--propagation", "private", "--", "/bin/sh", "-c",
                setup + " && exec \"$0\" \"$@\""), serveOptions);
    }

    /** An agent JVM started through {@code prefix} (e.g. {@code env -i}, or unshare), with more `agent serve` options. */
    public Process startAgentProcess(String host, List<String> prefix, List<String> extraOptions) throws Exception {
        AgentConfig config = agentConfig(host);
        Files.createDirectories(config.stateDir());
        List<String> command = new ArrayList<>(prefix);
        command.addAll(List.of(javaBinary(), "-Xmx256m", "-XX:TieredStopAtLevel=1", "-cp",
                System.getProperty("java.class.path"), "io.lockstep.agent.cli.AgentMain", "serve",
                "--host-id", host, "--listen", "127.0.0.1:0", "--zk", zkConnect(), "--zk-root", zkRoot,
                "--cgroup-root", cgroupRoot(host), "--state-dir", config.stateDir().toString(), "--allow-root",
                "--insecure-plaintext", "--socket", socket(host).toString(),
                "--session-timeout", sessionTimeout.toMillis() + "ms"));
        command.addAll(extraOptions);
        Process process = new ProcessBuilder(command)
                .redirectErrorStream(true)
                .redirectOutput(dir.resolve("agent-" + host + ".log").toFile())
                .start();
        agentProcesses.put(host, process);
        if (!hostsEverStarted.contains(host)) {
            hostsEverStarted.add(host);
        }
        CuratorFramework zk = coordinator().zk();
        // A restarted agent finds its predecessor's host node until that session expires: wait for its own record.
        await("agent process " + host + " registers").atMost(Duration.ofSeconds(60))
                .until(() -> registeredPid(host) == process.pid() || !process.isAlive());
        if (!process.isAlive()) {
            throw new IllegalStateException("agent " + host + " exited: " + Files.readString(dir.resolve("agent-" + host + ".log")));
        }
        return process;
    }

    private long registeredPid(String host) throws Exception {
        String path = layout().host(host);
        try {
            return ZkJson.parse(coordinator().zk().getData().forPath(path), HostRecord.getDefaultInstance(), path).getPid();
        } catch (KeeperException.NoNodeException notYet) {
            return -1;
        }
    }

    /** The JVM of an agent started with {@link #startAgentProcess}, while it runs. */
    public Optional<Process> agentProcess(String host) {
        return Optional.ofNullable(agentProcesses.get(host));
    }

    /** SIGKILL an agent JVM: no shutdown hook, its session lingers until it expires. */
    public void killAgentProcess(String host) throws InterruptedException {
        Process process = agentProcesses.remove(host);
        if (process != null) {
            process.destroyForcibly();
            process.waitFor(30, TimeUnit.SECONDS);
        }
    }

    public AgentServer agent(String host) {
        return agents.get(host);
    }

    /** Stops one agent the way a clean shutdown does; its processes stay. */
    public void stopAgent(String host) throws Exception {
        AgentServer agent = agents.remove(host);
        if (agent != null) {
            agent.close();
        }
    }

    public synchronized CoordinatorContext coordinator() throws Exception {
        if (context == null) {
            coordinatorZk = ZkClients.connect(zkConnect(), sessionTimeout, Duration.ofSeconds(5));
            context = CoordinatorContext.create(coordinatorZk, layout(),
                    store != null ? store : new FileCheckpointStore(dir.resolve("store")), Clock.systemUTC());
        }
        return context;
    }

    /** A checkpoint of {@code group} by this cluster's coordinator, with the default options and no listener. */
    public CheckpointResult checkpoint(String group) throws Exception {
        return new CheckpointOperation(coordinator(), CheckpointOptions.defaults(), OperationListener.SILENT).run(group);
    }

    /** A restore of {@code group}'s latest checkpoint by this cluster's coordinator, with no listener. */
    public RestoreResult restore(String group, RestoreOptions options) throws Exception {
        return new RestoreOperation(coordinator(), options, OperationListener.SILENT).run(group);
    }

    /** The coordinator's store instead of the file: store in this cluster's directory; before {@link #coordinator}. */
    public synchronized void useStore(CheckpointStore other) {
        if (context != null) {
            throw new IllegalStateException("the coordinator already uses " + context.store().uri());
        }
        store = other;
    }

    /** The coordinator's store when it is the default file: one. */
    public FileCheckpointStore fileStore() throws Exception {
        return (FileCheckpointStore) coordinator().store();
    }

    /** Starts a command in a group on a host through the agent's Run RPC, as `agent run` does. */
    public int run(String host, String group, List<String> argv) throws Exception {
        return run(host, group, RunRequest.newBuilder().setCwd(dir.toString()).putAllEnv(System.getenv()), argv);
    }

    /** Starts {@code /bin/sleep 600} in {@code group} on each of {@code hosts}: a process that holds nothing. */
    public void runSleepers(String group, String... hosts) throws Exception {
        for (String host : hosts) {
            run(host, group, List.of("/bin/sleep", "600"));
        }
    }

    /** Starts a command as uid/gid (cwd /, a plain PATH), as `agent run --uid --gid` does. */
    public int runAs(String host, String group, int uid, int gid, List<String> argv) throws Exception {
        return run(host, group, RunRequest.newBuilder().setCwd("/").setUid(uid).setGid(gid)
                .putEnv("PATH", "/usr/local/bin:/usr/bin:/bin"), argv);
    }

    /** Sends {@code request} to the host's agent as it is (e.g. deflated names with their exact bytes). */
    public int run(String host, RunRequest request) throws Exception {
        return run(host, request.getGroup(), request.toBuilder().clearGroup(), List.of());
    }

    private int run(String host, String group, RunRequest.Builder request, List<String> argv) throws Exception {
        String endpoint = coordinator().directory().host(host)
                .orElseThrow(() -> new IllegalStateException("no agent registered for " + host)).getEndpoint();
        ManagedChannel channel = NettyChannelBuilder.forTarget(endpoint).usePlaintext().build();
        try {
            return AgentGrpc.newBlockingStub(channel).withDeadlineAfter(30, TimeUnit.SECONDS)
                    .run(request.setGroup(group).addAllArgv(argv).build())
                    .getPid();
        } finally {
            channel.shutdownNow();
        }
    }

    /** Sends an Adopt request to the host's agent, as `agent adopt` does. */
    public AdoptReply adopt(String host, AdoptRequest request) throws Exception {
        String endpoint = coordinator().directory().host(host)
                .orElseThrow(() -> new IllegalStateException("no agent registered for " + host)).getEndpoint();
        ManagedChannel channel = NettyChannelBuilder.forTarget(endpoint).usePlaintext().build();
        try {
            return AgentGrpc.newBlockingStub(channel).withDeadlineAfter(30, TimeUnit.SECONDS).adopt(request);
        } finally {
            channel.shutdownNow();
        }
    }

    /** The output a process started with {@link #run} wrote so far. */
    public String output(String host, String group, int pid) throws IOException {
        Path log = outputLog(host, group, pid);
        return Files.exists(log) ? Files.readString(log) : "";
    }

    /** The agent's output file of a process it started (or restored) as fds 1 and 2. */
    public Path outputLog(String host, String group, int pid) {
        return agentConfig(host).stateDir().resolve("groups").resolve(group).resolve("logs").resolve(pid + ".log");
    }

    public void awaitReady(String host, String group, int pid) throws IOException {
        try {
            await("pid " + pid + " on " + host + " prints READY").atMost(Duration.ofSeconds(60))
                    .until(() -> output(host, group, pid).contains("READY") || !ProcessHandle.of(pid).isPresent());
        } catch (org.awaitility.core.ConditionTimeoutException e) {
            throw new AssertionError(e.getMessage() + "; its output so far: " + output(host, group, pid), e);
        }
        if (!output(host, group, pid).contains("READY")) {
            throw new AssertionError("pid " + pid + " on " + host + " exited before READY: " + output(host, group, pid));
        }
    }

    /** A LockWorker command line (see io.lockstep.demo.LockWorker). */
    public static List<String> worker(String... steps) {
        List<String> argv = new ArrayList<>(List.of(javaBinary(), "-Xshare:auto", "-XX:TieredStopAtLevel=1", "-XX:-UsePerfData", "-Xmx64m",
                "-cp", System.getProperty("java.class.path"), "io.lockstep.demo.LockWorker"));
        argv.addAll(List.of(steps));
        return argv;
    }

    public static String javaBinary() {
        return Path.of(System.getProperty("java.home"), "bin", "java").toString();
    }

    /** The cgroup layout of one simulated host, to check and clean its groups. */
    public CgroupLayout cgroups(String host) throws IOException {
        return CgroupLayout.detect(cgroupRoot(host));
    }

    /** Kills every process of every group of every agent (the whole application, as in a crash). */
    public void killApplications() throws IOException {
        for (String host : hostsEverStarted) {
            CgroupLayout layout = cgroups(host);
            for (String group : layout.existingGroups()) {
                layout.forGroup(group).killAll(Duration.ofSeconds(10));
            }
        }
    }

    @Override
    public void close() throws Exception {
        Exception first = null;
        for (String host : new ArrayList<>(agentProcesses.keySet())) {
            killAgentProcess(host);
        }
        for (String host : new ArrayList<>(agents.keySet())) {
            try {
                AgentServer agent = agents.remove(host);
                for (ManagedGroup group : agent.groups().all().values()) {
                    group.cgroup().freezer().thaw();
                }
                agent.close();
            } catch (Exception e) {
                first = first == null ? e : first;
            }
        }
        try {
            killApplications();
            for (String host : hostsEverStarted) {
                CgroupLayout layout = cgroups(host);
                for (String group : layout.existingGroups()) {
                    layout.forGroup(group).remove();
                }
                layout.removeRootIfEmpty();
            }
        } catch (Exception e) {
            first = first == null ? e : first;
        }
        if (coordinatorZk != null) {
            try {
                context.clients().close();
                context.store().close();
                coordinatorZk.delete().quietly().deletingChildrenIfNeeded().forPath(zkRoot);
            } catch (Exception e) {
                first = first == null ? e : first;
            }
            coordinatorZk.close();
        }
        if (zkServer != null) {
            zkServer.close();
        }
        for (Path export : exports) {
            try {
                new ProcessBuilder("umount", "-l", export.toString()).inheritIO().start().waitFor();
            } catch (Exception e) {
                first = first == null ? e : first;
            }
        }
        try (Stream<Path> files = Files.walk(dir)) {
            files.sorted(Comparator.reverseOrder()).forEach(path -> path.toFile().delete());
        }
        if (first != null) {
            throw first;
        }
    }
}
