package io.lockstep.coordinator.agents;

import io.grpc.ChannelCredentials;
import io.grpc.ClientInterceptor;
import io.grpc.ManagedChannel;
import io.grpc.netty.shaded.io.grpc.netty.NettyChannelBuilder;
import io.lockstep.proto.HostRecord;
import io.lockstep.tls.TlsConfig;

import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.TimeUnit;

/** Channels to agents, one per endpoint, reused across calls and closed together. */
public final class AgentClients implements AutoCloseable {
    private static final int MAX_MESSAGE_BYTES = 512 * 1024 * 1024;
    private final Map<String, AgentClient> byEndpoint = new ConcurrentHashMap<>();
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

    public AgentClient forHost(HostRecord host) {
        return byEndpoint.computeIfAbsent(host.getEndpoint(), endpoint -> {
            ManagedChannel channel = NettyChannelBuilder.forTarget(endpoint, credentials)
                    .maxInboundMessageSize(MAX_MESSAGE_BYTES)
                    .intercept(interceptors)
                    .build();
            return new AgentClient(host.getHostId(), channel);
        });
    }

    @Override
    public void close() {
        for (AgentClient client : byEndpoint.values()) {
            client.channel().shutdownNow();
        }
        for (AgentClient client : byEndpoint.values()) {
            try {
                client.channel().awaitTermination(5, TimeUnit.SECONDS);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                return;
            }
        }
        byEndpoint.clear();
    }
}
