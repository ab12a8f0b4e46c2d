package io.lockstep.agent.cli;

import io.lockstep.cli.DurationConverter;
import io.grpc.ManagedChannel;
import io.grpc.netty.shaded.io.grpc.netty.NettyChannelBuilder;
import io.grpc.netty.shaded.io.netty.channel.epoll.EpollDomainSocketChannel;
import io.grpc.netty.shaded.io.netty.channel.epoll.EpollEventLoopGroup;
import io.grpc.netty.shaded.io.netty.channel.unix.DomainSocketAddress;
import io.grpc.netty.shaded.io.netty.util.concurrent.DefaultThreadFactory;
import io.lockstep.proto.AgentGrpc;
import io.lockstep.tls.TlsConfig;
import io.lockstep.tls.TlsOptions;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;

import java.util.concurrent.TimeUnit;

/** The local agent that client subcommands (run, adopt, status) talk to: its socket by default. */
final class AgentAddress {
    private static final String UNIX = "unix:";

    @Option(names = "--agent", defaultValue = UNIX + ServeCommand.DEFAULT_SOCKET,
            description = "The agent: unix:PATH for its local socket, which tells the agent who you are (default:"
                    + " ${DEFAULT-VALUE}), or HOST:PORT for its TCP endpoint (mutual TLS; see --tls-cert).")
    String address;

    @Option(names = "--rpc-timeout", defaultValue = "30s", converter = DurationConverter.class,
            description = "Deadline of the call (default: ${DEFAULT-VALUE}).")
    java.time.Duration timeout;

    /** Needed when calling the agent's TCP endpoint over mutual TLS; its certificate must then name the --agent address. */
    @Mixin
    TlsOptions tls;

    /** A channel and a stub with the deadline set; close the channel when done. */
    record Connection(ManagedChannel channel, AgentGrpc.AgentBlockingStub stub, EpollEventLoopGroup loop) implements AutoCloseable {
        @Override
        public void close() throws InterruptedException {
            channel.shutdownNow();
            channel.awaitTermination(5, TimeUnit.SECONDS);
            if (loop != null) {
                loop.shutdownGracefully(0, 1, TimeUnit.SECONDS);
            }
        }
    }

    Connection connect() {
        ManagedChannel channel;
        EpollEventLoopGroup loop = null;
        if (address.startsWith(UNIX)) {
            loop = new EpollEventLoopGroup(1, new DefaultThreadFactory("lockstep-agent-client", true));
            channel = NettyChannelBuilder.forAddress(new DomainSocketAddress(address.substring(UNIX.length())))
                    .channelType(EpollDomainSocketChannel.class)
                    .eventLoopGroup(loop)
                    .usePlaintext()
                    .build();
        } else {
            channel = NettyChannelBuilder.forTarget(address, TlsConfig.channelCredentials(tls.config())).build();
        }
        return new Connection(channel, AgentGrpc.newBlockingStub(channel).withDeadlineAfter(timeout.toMillis(),
                TimeUnit.MILLISECONDS), loop);
    }
}
