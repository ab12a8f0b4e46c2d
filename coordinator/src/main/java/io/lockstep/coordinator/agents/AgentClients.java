package io.lockstep.coordinator.agents;

import io.grpc.ChannelCredentials;
import io.grpc.ClientInterceptor;
import io.grpc.ConnectivityState;
import io.grpc.ManagedChannel;
import io.grpc.netty.shaded.io.grpc.netty.NettyChannelBuilder;
import io.lockstep.proto.HostRecord;
import io.lockstep.tls.TlsConfig;

import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;

/** Channels to agents, one per endpoint and agent process, reused across calls and closed together. */
public final class AgentClients implements AutoCloseable {
    private static final int MAX_MESSAGE_BYTES = 512 * 1024 * 1024;
    /** How long a failed channel's new connection attempt may take to begin. */
    private static final Duration RECONNECT_START = Duration.ofSeconds(1);
    private final Map<String, Incarnation> byEndpoint = new ConcurrentHashMap<>();
    private final ChannelCredentials credentials;
    private final List<ClientInterceptor> interceptors;

    /** Plaintext channels: only agents listening on loopback (or with --insecure-plaintext) accept them. */
    public AgentClients() {
        this(Optional.empty());
    }

    /**
     * With TLS, every channel presents the coordinator's certificate; the files are read and
     * checked here, so that a bad file fails the command before any operation starts.
     */
    public AgentClients(Optional<TlsConfig> tls) {
        this(tls, List.of());
    }

    /** With interceptors on every channel, e.g. the benchmark's call counter. */
    public AgentClients(Optional<TlsConfig> tls, List<ClientInterceptor> interceptors) {
        this.credentials = TlsConfig.channelCredentials(tls);
        this.interceptors = List.copyOf(interceptors);
    }

    /**
     * The client of the agent this record registered. An agent that registers again at the same
     * endpoint as another process (restarted on its fixed port, or given a port the kernel gave out
     * before) gets a new channel: the old one may sit in its reconnect back-off, up to 2 minutes in
     * which every call fails at once (most likely the soak's seed 20261231, 46th schedule: 90 s of
     * "agent unreachable" for a restarted agent that was serving). A channel whose last connection failed
     * reconnects at once rather than at the end of its back-off: each operation tries its agents afresh.
     */
    public AgentClient forHost(HostRecord host) {
        String process = host.getHostId() + " pid " + host.getPid() + " started " + host.getStartedUnixMs();
        List<Incarnation> replaced = new ArrayList<>(1);
        Incarnation current = byEndpoint.compute(host.getEndpoint(), (endpoint, cached) -> {
            if (cached != null && cached.process().equals(process)) {
                return cached;
            }
            if (cached != null) {
                replaced.add(cached);
            }
            ManagedChannel channel = NettyChannelBuilder.forTarget(endpoint, credentials)
                    .maxInboundMessageSize(MAX_MESSAGE_BYTES)
                    .intercept(interceptors)
                    .build();
            return new Incarnation(process, new AgentClient(host.getHostId(), channel));
        });
        replaced.forEach(old -> old.client().channel().shutdown());
        reconnectIfFailed(current.client().channel());
        return current.client();
    }

    /**
     * Ends a failed channel's back-off and waits (briefly) until its new attempt began: a call made
     * while it is still in TRANSIENT_FAILURE would fail at once. An agent still down refuses the
     * attempt at once, and the call fails as fast as before.
     */
    private static void reconnectIfFailed(ManagedChannel channel) {
        if (channel.getState(false) != ConnectivityState.TRANSIENT_FAILURE) {
            return;
        }
        CountDownLatch attempting = new CountDownLatch(1);
        channel.notifyWhenStateChanged(ConnectivityState.TRANSIENT_FAILURE, attempting::countDown);
        channel.resetConnectBackoff();
        try {
            attempting.await(RECONNECT_START.toMillis(), TimeUnit.MILLISECONDS);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }

    /** The client of one agent process at an endpoint. */
    private record Incarnation(String process, AgentClient client) {
    }

    @Override
    public void close() {
        for (Incarnation agent : byEndpoint.values()) {
            agent.client().channel().shutdownNow();
        }
        for (Incarnation agent : byEndpoint.values()) {
            try {
                agent.client().channel().awaitTermination(5, TimeUnit.SECONDS);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                return;
            }
        }
        byEndpoint.clear();
    }
}
