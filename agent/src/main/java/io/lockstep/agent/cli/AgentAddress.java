package io.lockstep.agent.cli;

import io.lockstep.cli.DurationConverter;
import io.grpc.ManagedChannel;
import io.grpc.netty.shaded.io.grpc.netty.NettyChannelBuilder;
import io.lockstep.proto.AgentGrpc;
import io.lockstep.tls.TlsConfig;
import io.lockstep.tls.TlsOptions;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;

import java.util.concurrent.TimeUnit;

/** The local agent that client subcommands (run, adopt, status) talk to. */
final class AgentAddress {
    @Option(names = "--agent", defaultValue = "127.0.0.1:7411", description = "The agent's gRPC address (default: ${DEFAULT-VALUE}).")
    String address;

    @Option(names = "--rpc-timeout", defaultValue = "30s", converter = DurationConverter.class,
            description = "Deadline of the call (default: ${DEFAULT-VALUE}).")
    java.time.Duration timeout;

    /** Needed when the agent serves mutual TLS; the agent's certificate must then name the --agent address. */
    @Mixin
    TlsOptions tls;

    /** A channel and a stub with the deadline set; close the channel when done. */
    record Connection(ManagedChannel channel, AgentGrpc.AgentBlockingStub stub) implements AutoCloseable {
        @Override
        public void close() throws InterruptedException {
            channel.shutdownNow();
            channel.awaitTermination(5, TimeUnit.SECONDS);
        }
    }

    Connection connect() {
        ManagedChannel channel = NettyChannelBuilder.forTarget(address, TlsConfig.channelCredentials(tls.config())).build();
        return new Connection(channel, AgentGrpc.newBlockingStub(channel).withDeadlineAfter(timeout.toMillis(),
                TimeUnit.MILLISECONDS));
    }
}
