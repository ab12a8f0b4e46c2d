package io.lockstep.agent.server;

import io.grpc.Server;
import io.grpc.ServerCredentials;
import io.grpc.ServerInterceptors;
import io.grpc.ServerServiceDefinition;
import io.grpc.netty.shaded.io.grpc.netty.NettyServerBuilder;
import io.grpc.protobuf.services.HealthStatusManager;
import io.grpc.protobuf.services.ProtoReflectionServiceV1;
import io.lockstep.agent.cgroup.CgroupLayout;
import io.lockstep.proto.HostRecord;
import io.lockstep.zk.ZkClients;
import io.lockstep.zk.ZkLayout;
import org.apache.curator.framework.CuratorFramework;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.io.IOException;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.ScheduledThreadPoolExecutor;
import java.util.concurrent.TimeUnit;

/**
 * A running agent: ZooKeeper session, cgroups, the gRPC server, and its registration under
 * hosts/<host>. Start it, and close it to leave nothing behind.
 */
public final class AgentServer implements AutoCloseable {
    /** The capability of an agent whose registration lists its hooked groups ({@code HostRecord.hooked_groups}). */
    public static final String HOOKS_LISTED = "hooks=listed";

    private static final Logger LOG = LoggerFactory.getLogger(AgentServer.class);
    private static final int MAX_MESSAGE_BYTES = 512 * 1024 * 1024;

    private final AgentConfig config;
    private CuratorFramework zk;
    private Server server;
    private LocalSocket socket;
    private AgentRegistration registration;
    private CheckpointParticipant checkpoint;
    private CheckpointHooks hooks;
    private io.lockstep.agent.cgroup.GuardDaemon guards;
    private RestoreParticipant restore;
    private ScheduledExecutorService timer;
    private GroupRegistry groups;
    private AgentMetrics metrics;
    private AgentReadiness readiness;

    public AgentServer(AgentConfig config) {
        this.config = config;
    }

    /** Starts everything; on failure whatever was started is closed again before the error is thrown. */
    public AgentServer start() throws Exception {
        try {
            return startAll();
        } catch (Exception e) {
            try {
                close();
            } catch (Exception closing) {
                e.addSuppressed(closing);
            }
            throw e;
        }
    }

    private AgentServer startAll() throws Exception {
        ZkLayout layout = new ZkLayout(config.zkRoot());
        ZkLayout.checkName("host", config.hostId());
        // Before anything is started: a misconfigured transport is refused without side effects.
        ServerCredentials credentials = ListenSecurity.credentials(config, parseListen(config.listen()));
        zk = ZkClients.connect(config.zkConnect(), config.sessionTimeout(), ZkClients.DEFAULT_CONNECT_TIMEOUT,
                config.zkAuth(), config.zkRoot());
        ScheduledThreadPoolExecutor watchdog = new ScheduledThreadPoolExecutor(2, runnable -> {
            Thread thread = new Thread(runnable, "lockstep-agent-watchdog-" + config.hostId());
            thread.setDaemon(true);
            return thread;
        });
        // At shutdown: run the clean-ups already queued (stopping freeze guards), drop the timers.
        watchdog.setExecuteExistingDelayedTasksAfterShutdownPolicy(false);
        timer = watchdog;
        CgroupLayout cgroups = CgroupLayout.detect(config.cgroupRoot());
        if (config.backend().isPresent()) {
            cgroups = cgroups.withBackend(config.backend().get());
        }
        // Specs hold environments and logs the applications' output: the whole state is the agent's alone.
        io.lockstep.files.PrivateFiles.ownDirectory(config.stateDir());
        groups = new GroupRegistry(cgroups, config.stateDir());
        EpochFence fence = new EpochFence();
        OpAdmission admission = new OpAdmission(zk, layout, fence, config.hostId());
        metrics = new AgentMetrics(config.hostId());
        metrics.watch(zk, groups);
        // The freeze guard outlives this agent; a restarted agent attaches to the running one.
        guards = io.lockstep.agent.cgroup.GuardDaemon.attach(io.lockstep.agent.restore.StubBinary.program(
                io.lockstep.agent.cgroup.GuardDaemon.class, io.lockstep.agent.cgroup.GuardDaemon.NAME, config.stateDir()),
                config.stateDir().resolve("guard.sock"));
        CheckpointParts checkpointParts = new CheckpointParts(config, zk, layout, admission, groups, timer, metrics);
        checkpoint = new CheckpointParticipant(checkpointParts, guards);
        hooks = new CheckpointHooks(checkpointParts);
        List<String> capabilities = new ArrayList<>();
        capabilities.add("freezer=" + cgroups.backend());
        if (cgroups.degraded()) {
            capabilities.add("degraded");
        }
        capabilities.add("locks=posix,ofd,flock");
        capabilities.add("engine=exec");
        // Its Status reports the locks its stubs hold (GroupStatus.locks_held / locks_missing): the coordinator
        // compares them with its plan only for agents that say so (RestoreOperation.CONFIRMS_LOCKS).
        capabilities.add("confirm=locks");
        // Its registration lists the groups with a hooked program here (HostRecord.hooked_groups): a
        // checkpoint of a group none of its hosts lists has no hooks round.
        capabilities.add(HOOKS_LISTED);

        HealthStatusManager health = new HealthStatusManager();
        readiness = new AgentReadiness(health);
        zk.getConnectionStateListenable().addListener(readiness);
        InetSocketAddress bind = parseListen(config.listen());
        registration = new AgentRegistration(zk, layout, config.hostId());
        // Before the groups are rediscovered: the specs they load name their hooked groups.
        groups.onHookedGroup(registration::hooked);
        restore = new RestoreParticipant(config, zk, layout, admission, groups, registration, timer);
        GroupProcesses processes = new GroupProcesses(groups, registration, config.allowRoot(), config.stateDir(),
                CheckpointHooks.hooksDir(config));
        AgentStatus status = new AgentStatus(config.hostId(), capabilities, groups, fence);
        // The reconciler runs before the host is registered, so that no coordinator sees this
        // host until it is consistent; the record needs the bound port, so the server starts first.
        new Reconciler(zk, layout, config.hostId(), guards).reconcile(groups, registration, fence);
        new OrphanStubs(config, zk, layout, groups, timer).adopt();
        registration.sweepEvery(groups, AgentRegistration.SWEEP_INTERVAL);
        SnapshotRetention retention = new SnapshotRetention(config, zk, layout);
        List<String> groupNames = List.copyOf(groups.all().keySet());
        timer.execute(() -> {
            retention.catchUp(groupNames);
            checkpoint.settleLeftSnapshots();
        });
        AccessInterceptor access = new AccessInterceptor(config.hostId(), new AccessPolicy(groups, config.allowRoot()),
                config.allowedClients(), config.insecurePlaintext());
        ServerServiceDefinition api = ServerInterceptors.intercept(
                new AgentService(config.hostId(), checkpoint, hooks, restore, retention, processes, status, metrics),
                access);
        // Health and reflection are read-only and open on every endpoint; the API is guarded by AccessPolicy.
        server = NettyServerBuilder.forAddress(bind, credentials)
                .maxInboundMessageSize(MAX_MESSAGE_BYTES)
                .addService(api)
                .addService(health.getHealthService())
                .addService(ProtoReflectionServiceV1.newInstance())
                .build()
                .start();
        if (config.socket().isPresent()) {
            socket = LocalSocket.start(config.socket().get(), config.socketGroup(), MAX_MESSAGE_BYTES, List.of(api),
                    List.of(health.getHealthService(), ProtoReflectionServiceV1.newInstance()));
        }
        HostRecord record = HostRecord.newBuilder()
                .setHostId(config.hostId())
                .setEndpoint(endpoint(bind, server.getPort()))
                .setVersion(AgentStatus.VERSION)
                .addAllCapabilities(capabilities)
                .setHostname(InetAddress.getLocalHost().getHostName())
                .setPid((int) ProcessHandle.current().pid())
                .setStartedUnixMs(System.currentTimeMillis())
                .build();
        // Before coordinators can see this host: its first checkpoint is then as fast as the later ones.
        checkpoint.warmUp();
        registration.start(record, ZkClients.DEFAULT_CONNECT_TIMEOUT);
        readiness.registered();
        LOG.info("agent {} serving on {} (freezer {}, ZooKeeper {}{}, {}){}", config.hostId(), record.getEndpoint(),
                cgroups.backend(), config.zkConnect(), config.zkRoot(), config.tls().isPresent() ? "mutual TLS"
                        : config.insecurePlaintext() ? "INSECURE plaintext: every RPC open to anyone reaching the port"
                        : "plaintext: health and reflection only",
                socket == null ? "" : ", local socket " + socket.path());
        if (config.insecurePlaintext()) {
            LOG.warn("agent {}: --insecure-plaintext: anyone who reaches {} can run commands, freeze and restore groups"
                    + " through this agent", config.hostId(), record.getEndpoint());
        }
        return this;
    }

    public int port() {
        return server.getPort();
    }

    /** The local socket's path, when the agent serves one. */
    public java.util.Optional<java.nio.file.Path> socketPath() {
        return java.util.Optional.ofNullable(socket).map(LocalSocket::path);
    }

    public String endpoint() {
        return endpoint(parseListen(config.listen()), server.getPort());
    }

    public GroupRegistry groups() {
        return groups;
    }

    /** The agent's metrics, for {@code agent serve --metrics-listen} and tests. */
    public AgentMetrics metrics() {
        return metrics;
    }

    public AgentConfig config() {
        return config;
    }

    /** The agent's ZooKeeper session (the benchmark counts the requests it sends). */
    public CuratorFramework zk() {
        return zk;
    }

    public void awaitTermination() throws InterruptedException {
        server.awaitTermination();
    }

    static InetSocketAddress parseListen(String listen) {
        int colon = listen.lastIndexOf(':');
        if (colon < 0) {
            throw new IllegalArgumentException("--listen must be HOST:PORT, not '" + listen + "'");
        }
        String host = listen.substring(0, colon);
        int port = Integer.parseInt(listen.substring(colon + 1));
        return new InetSocketAddress(host.isEmpty() ? "0.0.0.0" : host, port);
    }

    private static String endpoint(InetSocketAddress bind, int port) {
        String host = bind.getHostString();
        if (host.equals("0.0.0.0") || host.equals("::")) {
            try {
                host = InetAddress.getLocalHost().getHostName();
            } catch (IOException e) {
                host = "127.0.0.1";
            }
        }
        return host + ":" + port;
    }

    @Override
    public void close() throws Exception {
        if (readiness != null) {
            readiness.shutdown();
        }
        if (socket != null) {
            socket.shutdown();
        }
        if (server != null) {
            server.shutdown();
            server.awaitTermination(5, TimeUnit.SECONDS);
            server.shutdownNow();
        }
        if (socket != null) {
            socket.close();
        }
        if (checkpoint != null) {
            checkpoint.abortAll("agent " + config.hostId() + " shutting down");
        }
        if (restore != null) {
            restore.abortAll("agent " + config.hostId() + " shutting down");
        }
        if (registration != null) {
            registration.close();
        }
        if (timer != null) {
            timer.shutdown();
            if (!timer.awaitTermination(10, TimeUnit.SECONDS)) {
                timer.shutdownNow();
            }
        }
        if (hooks != null) {
            hooks.close();
        }
        if (guards != null) {
            // After the queued clean-ups, which disarm; an entry still armed keeps the guard alive.
            guards.close();
        }
        if (zk != null) {
            zk.close();
        }
    }
}
