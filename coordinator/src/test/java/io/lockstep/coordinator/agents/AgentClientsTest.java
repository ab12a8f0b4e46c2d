package io.lockstep.coordinator.agents;

import io.grpc.Server;
import io.grpc.netty.shaded.io.grpc.netty.NettyServerBuilder;
import io.grpc.stub.StreamObserver;
import io.lockstep.proto.AgentGrpc;
import io.lockstep.proto.HostRecord;
import io.lockstep.proto.StatusReply;
import io.lockstep.proto.StatusRequest;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

import java.net.InetSocketAddress;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.awaitility.Awaitility.await;

/**
 * An agent that comes back on the endpoint it had (a fixed port; or a port the kernel gives out
 * again, as in the soak's seed 20261231, 46th schedule) is reached by the next call, not at the
 * end of the old channel's reconnect back-off (up to 2 minutes of calls failing at once).
 */
class AgentClientsTest {
    private static final Duration CALL = Duration.ofSeconds(5);

    private final AgentClients clients = new AgentClients();
    private final List<Server> servers = new ArrayList<>();

    @AfterEach
    void tearDown() {
        clients.close();
        servers.forEach(Server::shutdownNow);
    }

    @Test
    void anAgentRestartedOnItsEndpointGetsANewChannelAndIsReachedAtOnce() throws Exception {
        int port = startAgent(0, "first");
        HostRecord first = record(port, 100, 1);
        AgentClient before = clients.forHost(first);
        assertThat(before.status(StatusRequest.getDefaultInstance(), CALL).getHostId()).isEqualTo("first");
        stopAgents();
        awaitConnectionFailed(before);

        startAgent(port, "second");
        AgentClient after = clients.forHost(record(port, 200, 2));

        assertThat(after).as("the client of the restarted agent's process").isNotSameAs(before);
        assertThat(after.status(StatusRequest.getDefaultInstance(), CALL).getHostId()).isEqualTo("second");
    }

    @Test
    void aChannelWhoseConnectionFailedReconnectsAtTheNextOperationNotAtTheEndOfItsBackOff() throws Exception {
        int port = startAgent(0, "h1");
        HostRecord record = record(port, 100, 1);
        AgentClient client = clients.forHost(record);
        client.status(StatusRequest.getDefaultInstance(), CALL);
        stopAgents();
        awaitConnectionFailed(client);
        assertThatThrownBy(() -> client.status(StatusRequest.getDefaultInstance(), CALL))
                .as("a call while the channel is in its back-off fails at once").isInstanceOf(AgentCallException.class);

        // The same process back on its port (a network cut that healed): the back-off after the
        // first failure is 1 s ± 20 %, and this call comes well within it.
        startAgent(port, "h1");
        AgentClient again = clients.forHost(record);

        assertThat(again).isSameAs(client);
        assertThat(again.status(StatusRequest.getDefaultInstance(), CALL).getHostId()).isEqualTo("h1");
    }

    private static void awaitConnectionFailed(AgentClient client) {
        await("the channel's connection to the stopped agent failed").atMost(Duration.ofSeconds(10))
                .pollInterval(Duration.ofMillis(5)).until(client::connectionFailed);
    }

    private static HostRecord record(int port, int pid, long started) {
        return HostRecord.newBuilder().setHostId("h1").setEndpoint("127.0.0.1:" + port).setPid(pid)
                .setStartedUnixMs(started).build();
    }

    private int startAgent(int port, String hostId) throws Exception {
        Server server = NettyServerBuilder.forAddress(new InetSocketAddress("127.0.0.1", port))
                .addService(new AgentGrpc.AgentImplBase() {
                    @Override
                    public void status(StatusRequest request, StreamObserver<StatusReply> reply) {
                        reply.onNext(StatusReply.newBuilder().setHostId(hostId).build());
                        reply.onCompleted();
                    }
                }).build().start();
        servers.add(server);
        return server.getPort();
    }

    private void stopAgents() throws InterruptedException {
        for (Server server : servers) {
            server.shutdownNow().awaitTermination();
        }
        servers.clear();
    }
}
