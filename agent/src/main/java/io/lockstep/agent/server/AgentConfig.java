package io.lockstep.agent.server;

import io.lockstep.agent.cgroup.Backend;
import io.lockstep.agent.restore.AllowedRoots;
import io.lockstep.tls.TlsConfig;
import io.lockstep.zk.ZkAuth;

import java.nio.file.Path;
import java.time.Duration;
import java.util.Optional;
import java.util.Set;

/**
 * How one agent runs.
 *
 * @param hostId the name this host has in Lockstep (stable across restarts and IP changes)
 * @param listen host:port of the gRPC server (port 0 picks one)
 * @param cgroupRoot the directory under each cgroup hierarchy that this agent owns
 * @param backend forces a freezer backend; empty picks the best available
 * @param stateDir restart specs and logs of the processes this agent started
 * @param allowRoot lets restored commands run as uid 0
 * @param networkFsTypes file system types, besides nfs and nfs4, whose {@code server:/export} mounts are shared exports
 * @param tls mutual TLS of the gRPC server; without it the server only listens on loopback
 * @param insecurePlaintext lets the server listen in plaintext on a non-loopback address
 * @param zkAuth ZooKeeper digest credentials, restricting the nodes this agent creates to them
 * @param allowedRoots the directories a restore may reopen files in
 * @param socket the local Unix domain socket that knows its callers (SO_PEERCRED); none: no local endpoint
 * @param socketGroup the group that may connect to the socket (mode 0660) if it exists; else only root may (0600)
 * @param allowedClients names (subject CN or SAN) of the client certificates that may act as coordinators over mutual TLS
 */
public record AgentConfig(String hostId, String listen, String zkConnect, String zkRoot, String cgroupRoot,
                          Optional<Backend> backend, Path stateDir, Duration sessionTimeout, boolean allowRoot,
                          Set<String> networkFsTypes, Optional<TlsConfig> tls, boolean insecurePlaintext,
                          Optional<ZkAuth> zkAuth, AllowedRoots allowedRoots, Optional<Path> socket,
                          String socketGroup, Set<String> allowedClients) {
    public static final String DEFAULT_SOCKET_GROUP = "lockstep";

    /** Plaintext on loopback only (health and reflection only), no local socket, ZooKeeper without credentials, nfs and nfs4 as network file systems, files restored anywhere but /proc and /sys. */
    public AgentConfig(String hostId, String listen, String zkConnect, String zkRoot, String cgroupRoot,
                       Optional<Backend> backend, Path stateDir, Duration sessionTimeout, boolean allowRoot) {
        this(hostId, listen, zkConnect, zkRoot, cgroupRoot, backend, stateDir, sessionTimeout, allowRoot, Set.of(),
                Optional.empty(), false, Optional.empty(), AllowedRoots.EVERYWHERE, Optional.empty(),
                DEFAULT_SOCKET_GROUP, Set.of());
    }

    /** The same agent, counting more file system types as network exports (see MountTable). */
    public AgentConfig withNetworkFsTypes(Set<String> types) {
        return new AgentConfig(hostId, listen, zkConnect, zkRoot, cgroupRoot, backend, stateDir, sessionTimeout,
                allowRoot, Set.copyOf(types), tls, insecurePlaintext, zkAuth, allowedRoots, socket, socketGroup, allowedClients);
    }

    public AgentConfig withTls(Optional<TlsConfig> tls, boolean insecurePlaintext) {
        return new AgentConfig(hostId, listen, zkConnect, zkRoot, cgroupRoot, backend, stateDir, sessionTimeout, allowRoot,
                networkFsTypes, tls, insecurePlaintext, zkAuth, allowedRoots, socket, socketGroup, allowedClients);
    }

    public AgentConfig withZkAuth(Optional<ZkAuth> zkAuth) {
        return new AgentConfig(hostId, listen, zkConnect, zkRoot, cgroupRoot, backend, stateDir, sessionTimeout, allowRoot,
                networkFsTypes, tls, insecurePlaintext, zkAuth, allowedRoots, socket, socketGroup, allowedClients);
    }

    public AgentConfig withAllowedRoots(AllowedRoots allowedRoots) {
        return new AgentConfig(hostId, listen, zkConnect, zkRoot, cgroupRoot, backend, stateDir, sessionTimeout, allowRoot,
                networkFsTypes, tls, insecurePlaintext, zkAuth, allowedRoots, socket, socketGroup, allowedClients);
    }

    /** The same agent, with its local socket at {@code socket}, open to {@code group} (if that group exists). */
    public AgentConfig withSocket(Path socket, String group) {
        return new AgentConfig(hostId, listen, zkConnect, zkRoot, cgroupRoot, backend, stateDir, sessionTimeout, allowRoot,
                networkFsTypes, tls, insecurePlaintext, zkAuth, allowedRoots, Optional.of(socket), group, allowedClients);
    }

    /** The same agent, admitting coordinators whose client certificate names one of {@code names}. */
    public AgentConfig withAllowedClients(Set<String> names) {
        return new AgentConfig(hostId, listen, zkConnect, zkRoot, cgroupRoot, backend, stateDir, sessionTimeout, allowRoot,
                networkFsTypes, tls, insecurePlaintext, zkAuth, allowedRoots, socket, socketGroup, Set.copyOf(names));
    }

    /** The safety margin added to the session timeout before an agent acts on session loss. */
    public Duration sessionLossMargin() {
        return Duration.ofMillis(Math.max(1000, sessionTimeout.toMillis() / 5));
    }

    /**
     * A freeze is never bounded tighter than this: by then the agent's session has expired and its
     * frozen node is gone, so no commit can include a host the guard thawed.
     */
    public Duration minimumMaxFrozen() {
        return sessionTimeout.plus(sessionLossMargin()).plus(sessionLossMargin());
    }
}
