package io.lockstep.coordinator.agents;

import io.grpc.ManagedChannel;
import io.grpc.health.v1.HealthCheckRequest;
import io.grpc.health.v1.HealthCheckResponse.ServingStatus;
import io.grpc.health.v1.HealthGrpc;
import io.grpc.netty.shaded.io.grpc.netty.NettyChannelBuilder;
import io.grpc.reflection.v1.ServerReflectionGrpc;
import io.grpc.reflection.v1.ServerReflectionRequest;
import io.grpc.reflection.v1.ServerReflectionResponse;
import io.grpc.reflection.v1.ServiceResponse;
import io.grpc.stub.StreamObserver;
import io.lockstep.coordinator.testing.Invariants;
import io.lockstep.coordinator.testing.LocalCluster;
import io.lockstep.proto.AgentGrpc;
import com.google.protobuf.DescriptorProtos.FileDescriptorProto;
import com.google.protobuf.ByteString;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

/** The agent's gRPC health service (readiness follows its ZooKeeper registration) and server reflection, by real clients. */
class AgentHealthTest {
    private LocalCluster cluster;
    private ManagedChannel channel;

    @BeforeEach
    void startAgent() throws Exception {
        cluster = LocalCluster.start("h1");
        channel = NettyChannelBuilder.forTarget(cluster.agent("h1").endpoint()).usePlaintext().build();
    }

    @AfterEach
    void stop() throws Exception {
        if (channel != null) {
            channel.shutdownNow();
        }
        if (cluster != null) {
            cluster.close();
        }
    }

    private ServingStatus health(String service) {
        return HealthGrpc.newBlockingStub(channel).withDeadlineAfter(10, TimeUnit.SECONDS)
                .check(HealthCheckRequest.newBuilder().setService(service).build()).getStatus();
    }

    @Test
    void servingWhileRegisteredNotServingWhileZooKeeperIsGoneServingAgainAfter() throws Exception {
        assertThat(health("")).isEqualTo(ServingStatus.SERVING);
        assertThat(health(AgentGrpc.SERVICE_NAME)).isEqualTo(ServingStatus.SERVING);

        cluster.zkServer().stop();
        await("agent h1 reports NOT_SERVING once its ZooKeeper connection is lost").atMost(Duration.ofSeconds(30))
                .until(() -> health("") == ServingStatus.NOT_SERVING && health(AgentGrpc.SERVICE_NAME) == ServingStatus.NOT_SERVING);

        cluster.zkServer().restart();
        await("agent h1 reports SERVING again after reconnecting").atMost(Duration.ofSeconds(60))
                .until(() -> health("") == ServingStatus.SERVING);
        await("agent h1 is registered again").atMost(Duration.ofSeconds(60))
                .until(() -> cluster.coordinator().directory().host("h1").isPresent());
        Invariants.assertAll(cluster);
    }

    @Test
    void reflectionListsTheAgentServiceAndDescribesIt() throws Exception {
        List<ServerReflectionResponse> listed = reflect(ServerReflectionRequest.newBuilder().setListServices("").build());
        List<String> services = listed.get(0).getListServicesResponse().getServiceList().stream()
                .map(ServiceResponse::getName).toList();
        assertThat(services).contains(AgentGrpc.SERVICE_NAME, HealthGrpc.SERVICE_NAME, ServerReflectionGrpc.SERVICE_NAME);

        List<ServerReflectionResponse> described = reflect(ServerReflectionRequest.newBuilder()
                .setFileContainingSymbol(AgentGrpc.SERVICE_NAME).build());
        List<String> methods = new ArrayList<>();
        for (ByteString file : described.get(0).getFileDescriptorResponse().getFileDescriptorProtoList()) {
            FileDescriptorProto proto = FileDescriptorProto.parseFrom(file);
            proto.getServiceList().stream().filter(s -> (proto.getPackage() + "." + s.getName()).equals(AgentGrpc.SERVICE_NAME))
                    .forEach(s -> s.getMethodList().forEach(m -> methods.add(m.getName())));
        }
        assertThat(methods).contains("Freeze", "Capture", "Thaw", "Abort", "Validate", "Stage", "Prepare", "Release", "Status");
        Invariants.assertAll(cluster);
    }

    /** One request on the bidirectional reflection stream, its responses once the server completes. */
    private List<ServerReflectionResponse> reflect(ServerReflectionRequest request) throws Exception {
        List<ServerReflectionResponse> responses = new ArrayList<>();
        CompletableFuture<List<ServerReflectionResponse>> done = new CompletableFuture<>();
        StreamObserver<ServerReflectionRequest> requests = ServerReflectionGrpc.newStub(channel)
                .withDeadlineAfter(10, TimeUnit.SECONDS)
                .serverReflectionInfo(new StreamObserver<>() {
                    @Override
                    public void onNext(ServerReflectionResponse response) {
                        responses.add(response);
                    }

                    @Override
                    public void onError(Throwable t) {
                        done.completeExceptionally(t);
                    }

                    @Override
                    public void onCompleted() {
                        done.complete(responses);
                    }
                });
        requests.onNext(request);
        requests.onCompleted();
        List<ServerReflectionResponse> result = done.get(30, TimeUnit.SECONDS);
        assertThat(result).hasSize(1);
        assertThat(result.get(0).hasErrorResponse()).as("reflection error: %s", result.get(0).getErrorResponse()).isFalse();
        return result;
    }
}
