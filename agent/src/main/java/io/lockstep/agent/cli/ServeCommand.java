package io.lockstep.agent.cli;

import io.lockstep.cli.DurationConverter;
import io.lockstep.agent.cgroup.Backend;
import io.lockstep.agent.server.AgentConfig;
import io.lockstep.agent.server.AgentServer;
import io.lockstep.agent.restore.AllowedRoots;
import io.lockstep.metrics.MetricsEndpoint;
import io.lockstep.tls.TlsOptions;
import io.lockstep.tls.TransportSecurityException;
import io.lockstep.zk.ZkAuth;
import io.lockstep.zk.ZkAuthOption;
import io.lockstep.zk.ZkConnect;
import io.lockstep.zk.ZkLayout;
import io.lockstep.zk.ZkUnavailableException;
import org.apache.zookeeper.KeeperException;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;
import picocli.CommandLine.Spec;
import picocli.CommandLine.Model.CommandSpec;

import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;
import java.util.concurrent.Callable;
import java.util.concurrent.CountDownLatch;

@Command(name = "serve", mixinStandardHelpOptions = true,
        description = {"Run the agent: register this host in ZooKeeper (hosts/<host-id>) and serve gRPC until stopped.",
            "On SIGTERM it aborts any operation it takes part in and thaws its groups.",
            "Local users reach it through --socket (SO_PEERCRED tells who calls: one that is not root may run and adopt"
                + " only as itself, in groups it created, and see only those). Coordinators reach it over TCP with mutual"
                + " TLS (--tls-cert, --tls-key, --tls-ca) and a client certificate named by --tls-allowed-client. Plaintext"
                + " TCP serves only health and reflection, unless --insecure-plaintext."})
final class ServeCommand implements Callable<Integer> {
    @Spec
    CommandSpec spec;

    @Option(names = "--host-id", required = true, description = "This host's stable name in Lockstep (letters, digits, '.', '_', '-').")
    String hostId;

    @Option(names = "--listen", defaultValue = "127.0.0.1:7411",
            description = "HOST:PORT of the gRPC server (default: ${DEFAULT-VALUE}; port 0 picks a free one).")
    String listen;

    @Option(names = "--zk", description = "ZooKeeper connect string (default: $LOCKSTEP_ZK, else the local embedded server).")
    String zk;

    @Option(names = "--zk-root", defaultValue = ZkLayout.DEFAULT_ROOT, description = "ZooKeeper root (default: ${DEFAULT-VALUE}).")
    String zkRoot;

    @Option(names = "--cgroup-root", defaultValue = "lockstep",
            description = "Directory this agent owns under each cgroup hierarchy (default: ${DEFAULT-VALUE}).")
    String cgroupRoot;

    @Option(names = "--freezer", description = "Force a freezer backend: ${COMPLETION-CANDIDATES} (default: best available).")
    Backend backend;

    @Option(names = "--state-dir", description = "Restart specs, stub sockets and logs (default: /var/lib/lockstep/agent-<host-id>).")
    Path stateDir;

    @Option(names = "--session-timeout", defaultValue = "10s", converter = DurationConverter.class,
            description = "ZooKeeper session timeout; bounds how long a cut-off agent stays frozen (default: ${DEFAULT-VALUE}).")
    Duration sessionTimeout;

    @Option(names = "--allow-root", description = "Let group commands and restored commands run as uid 0.")
    boolean allowRoot;

    @Option(names = "--network-fs", split = ",", paramLabel = "TYPE",
            description = "More file system types whose server:/export mounts are shared exports, besides nfs and nfs4"
                    + " (e.g. ceph, glusterfs; tmpfs for a one-machine demonstration).")
    java.util.Set<String> networkFsTypes = new java.util.TreeSet<>();

    @Option(names = "--allowed-root", paramLabel = "DIR",
            description = "A directory under which a restore may reopen files and set working directories (repeatable;"
                    + " symbolic links are resolved first). Default: everywhere except /proc and /sys, which are never"
                    + " restorable. Manifests naming files elsewhere are refused before anything is started.")
    List<Path> allowedRoots = new ArrayList<>();

    @Mixin
    TlsOptions tls;

    @Option(names = "--tls-allowed-client", paramLabel = "NAME",
            description = "A coordinator's client certificate name (subject CN, or a DNS/IP/URI SAN) allowed to call the"
                    + " operation RPCs over mutual TLS (repeatable; required with --tls-cert). Being signed by --tls-ca"
                    + " is not enough.")
    List<String> allowedClients = new ArrayList<>();

    @Option(names = "--insecure-plaintext",
            description = "Serve every RPC over plaintext TCP to anyone who reaches --listen, as if they were root; allows"
                    + " a non-loopback address (only on a trusted network; prints a warning).")
    boolean insecurePlaintext;

    @Option(names = "--socket", paramLabel = "PATH", defaultValue = DEFAULT_SOCKET,
            description = "The local Unix domain socket for agent run/adopt/status (default: ${DEFAULT-VALUE}; mode 0660,"
                    + " group lockstep if that group exists, else 0600; 'none': no local socket).")
    String socket;

    @Option(names = "--socket-group", paramLabel = "GROUP", defaultValue = AgentConfig.DEFAULT_SOCKET_GROUP,
            description = "The group whose members may connect to --socket (default: ${DEFAULT-VALUE}); without such a"
                    + " group only root may.")
    String socketGroup;

    static final String DEFAULT_SOCKET = "/run/lockstep/agent.sock";

    @Mixin
    ZkAuthOption zkAuth;

    @Option(names = "--metrics-listen", paramLabel = "HOST:PORT",
            description = "Serve Prometheus metrics at http://HOST:PORT/metrics (default: off).")
    String metricsListen;

    @Option(names = "--port-file", description = "Write the bound port here once serving (for scripts using port 0).")
    Path portFile;

    @Override
    public Integer call() throws Exception {
        ZkConnect resolved = ZkConnect.resolve(zk);
        if (resolved.connectString().isEmpty()) {
            spec.commandLine().getErr().println("agent: no ZooKeeper: pass --zk, set " + ZkConnect.ENV
                    + ", or start the local one with 'coordinator zookeeper start' (state dir " + resolved.stateDir() + ")");
            return AgentMain.ZK_UNREACHABLE;
        }
        String connect = resolved.connectString().get();
        Path state = stateDir != null ? stateDir : Path.of("/var/lib/lockstep", "agent-" + ZkLayout.checkName("host", hostId));
        AgentConfig config;
        try {
            if (metricsListen != null) {
                MetricsEndpoint.parse(metricsListen);
            }
            config = new AgentConfig(hostId, listen, connect, zkRoot, cgroupRoot, Optional.ofNullable(backend),
                    state, sessionTimeout, allowRoot).withNetworkFsTypes(networkFsTypes).withTls(tls.config(), insecurePlaintext)
                    .withAllowedClients(new java.util.TreeSet<>(allowedClients)).withZkAuth(zkAuth.resolve())
                    .withAllowedRoots(allowedRoots.isEmpty() ? AllowedRoots.EVERYWHERE : new AllowedRoots(allowedRoots));
            if (!socket.equals("none")) {
                config = config.withSocket(Path.of(socket), socketGroup);
            }
        } catch (IllegalArgumentException e) {
            spec.commandLine().getErr().println("agent: " + e.getMessage());
            return AgentMain.BAD_ARGUMENTS;
        }
        if (insecurePlaintext) {
            spec.commandLine().getErr().println("agent: WARNING: --insecure-plaintext: anyone who reaches " + listen
                    + " can run commands as any user, freeze and restore groups through this agent");
            spec.commandLine().getErr().flush();
        }
        AgentServer server;
        try {
            server = new AgentServer(config).start();
        } catch (ZkUnavailableException e) {
            spec.commandLine().getErr().println("agent: " + e.getMessage());
            return AgentMain.ZK_UNREACHABLE;
        } catch (TransportSecurityException e) {
            spec.commandLine().getErr().println("agent: " + e.getMessage());
            return AgentMain.BAD_ARGUMENTS;
        } catch (KeeperException.NoAuthException e) {
            spec.commandLine().getErr().println("agent: ZooKeeper refused access to " + e.getPath()
                    + ": pass the Lockstep credentials with --zk-auth or $" + ZkAuth.ENV);
            return AgentMain.BAD_ARGUMENTS;
        }
        MetricsEndpoint metrics;
        try {
            metrics = metricsListen == null ? null : MetricsEndpoint.start(metricsListen, server.metrics().registry());
        } catch (java.io.IOException e) {
            server.close();
            spec.commandLine().getErr().println("agent: " + e.getMessage());
            return AgentMain.BAD_ARGUMENTS;
        }
        CountDownLatch stopped = new CountDownLatch(1);
        Runtime.getRuntime().addShutdownHook(new Thread(() -> {
            try {
                if (metrics != null) {
                    metrics.close();
                }
                server.close();
            } catch (Exception e) {
                System.err.println("agent: shutdown: " + e);
            } finally {
                stopped.countDown();
            }
        }, "lockstep-agent-shutdown"));
        if (portFile != null) {
            io.lockstep.files.PrivateFiles.writeAtomically(portFile,
                    Integer.toString(server.port()).getBytes(java.nio.charset.StandardCharsets.US_ASCII), false);
        }
        spec.commandLine().getOut().println("agent " + hostId + " serving on " + server.endpoint()
                + server.socketPath().map(path -> ", local socket " + path).orElse("")
                + (metrics == null ? "" : ", metrics at " + metrics.url()));
        spec.commandLine().getOut().flush();
        server.awaitTermination();
        stopped.await();
        return AgentMain.OK;
    }
}
