package io.lockstep.coordinator.agents;

import io.grpc.ManagedChannel;
import io.grpc.Status;
import io.grpc.StatusRuntimeException;
import io.grpc.netty.shaded.io.grpc.netty.NettyChannelBuilder;
import io.lockstep.agent.cgroup.CgroupLayout;
import io.lockstep.coordinator.testing.Invariants;
import io.lockstep.coordinator.testing.LocalCluster;
import io.lockstep.proto.AbortRequest;
import io.lockstep.proto.AdoptRequest;
import io.lockstep.proto.AgentGrpc;
import io.lockstep.proto.CaptureRequest;
import io.lockstep.proto.FreezeRequest;
import io.lockstep.proto.OpContext;
import io.lockstep.proto.PrepareRequest;
import io.lockstep.proto.ReleaseRequest;
import io.lockstep.proto.RunRequest;
import io.lockstep.proto.StageRequest;
import io.lockstep.proto.ThawRequest;
import io.lockstep.proto.ValidateRequest;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.TestInstance;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import java.util.function.BiConsumer;
import java.util.stream.Stream;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

/**
 * Every agent RPC, sent straight over gRPC with a group name that would lead out of the agent's
 * cgroup root or state directory: each is refused (INVALID_ARGUMENT, naming the group) and no
 * directory appears anywhere.
 */
@TestInstance(TestInstance.Lifecycle.PER_CLASS)
class AgentRpcBadInputTest {
    private LocalCluster cluster;
    private ManagedChannel channel;
    private AgentGrpc.AgentBlockingStub agent;
    private String escape;

    @BeforeAll
    void start() throws Exception {
        cluster = LocalCluster.start("h1");
        escape = "lockstep-escape-" + cluster.id();
        channel = NettyChannelBuilder.forTarget(cluster.agent("h1").endpoint()).usePlaintext().build();
        agent = AgentGrpc.newBlockingStub(channel);
    }

    @AfterAll
    void stop() throws Exception {
        if (channel != null) {
            channel.shutdownNow();
        }
        if (cluster != null) {
            cluster.close();
        }
    }

    private AgentGrpc.AgentBlockingStub call() {
        return agent.withDeadlineAfter(30, TimeUnit.SECONDS);
    }

    private static OpContext ctx(String group) {
        return OpContext.newBuilder().setGroup(group).setOpId("ckpt-000001").setEpoch(1).build();
    }

    Stream<Arguments> rpcs() {
        Map<String, BiConsumer<AgentGrpc.AgentBlockingStub, String>> rpcs = Map.of(
                "Run", (a, g) -> a.run(RunRequest.newBuilder().setGroup(g).addArgv("/bin/true").setCwd("/").build()),
                "Adopt", (a, g) -> a.adopt(AdoptRequest.newBuilder().setGroup(g).setPid((int) ProcessHandle.current().pid()).build()),
                "Freeze", (a, g) -> a.freeze(FreezeRequest.newBuilder().setCtx(ctx(g)).setMaxFrozenMs(30_000)
                        .setDeadlineUnixMs(System.currentTimeMillis() + 10_000).build()),
                "Capture", (a, g) -> a.capture(CaptureRequest.newBuilder().setCtx(ctx(g)).build()).hasNext(),
                "Thaw", (a, g) -> a.thaw(ThawRequest.newBuilder().setCtx(ctx(g)).build()),
                "Abort", (a, g) -> a.abort(AbortRequest.newBuilder().setCtx(ctx(g)).build()),
                "Validate", (a, g) -> a.validate(ValidateRequest.newBuilder().setCtx(ctx(g)).build()),
                "Stage", (a, g) -> a.stage(StageRequest.newBuilder().setCtx(ctx(g)).build()),
                "Prepare", (a, g) -> a.prepare(PrepareRequest.newBuilder().setCtx(ctx(g)).build()),
                "Release", (a, g) -> a.release(ReleaseRequest.newBuilder().setCtx(ctx(g)).setCommit(true).build()));
        return rpcs.entrySet().stream().sorted(Map.Entry.comparingByKey())
                .map(rpc -> Arguments.of(rpc.getKey(), rpc.getValue()));
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("rpcs")
    void anRpcNamingAGroupOutsideTheAgentsRootIsRefused(String rpc, BiConsumer<AgentGrpc.AgentBlockingStub, String> send)
            throws Exception {
        for (String group : List.of("../" + escape, escape + "/b", "/tmp/" + escape, "g".repeat(65), "")) {
            assertThatThrownBy(() -> send.accept(call(), group))
                    .as("%s for group '%s'", rpc, group)
                    .isInstanceOfSatisfying(StatusRuntimeException.class, e -> {
                        assertThat(e.getStatus().getCode()).isEqualTo(Status.Code.INVALID_ARGUMENT);
                        assertThat(e.getStatus().getDescription()).contains("host h1: " + rpc + ": group name '" + group
                                + "' is not valid");
                    });
        }

        CgroupLayout layout = cluster.cgroups("h1");
        assertThat(layout.existingGroups()).as("groups under the agent's cgroup root").isEmpty();
        for (Path mount : Stream.of(layout.cgroup2Mount(), layout.freezerV1Mount()).flatMap(java.util.Optional::stream).toList()) {
            assertThat(mount.resolve(escape)).as("cgroup beside the agent's root").doesNotExist();
            assertThat(mount.resolve(layout.root()).resolve(escape)).as("cgroup under the agent's root").doesNotExist();
        }
        assertThat(Path.of("/tmp", escape)).doesNotExist();
        Path state = cluster.agentConfig("h1").stateDir();
        assertThat(state.resolveSibling(escape)).doesNotExist();
        if (Files.isDirectory(state.resolve("groups"))) {
            try (Stream<Path> groups = Files.list(state.resolve("groups"))) {
                assertThat(groups).as("state directories of groups").isEmpty();
            }
        }
        Invariants.assertAll(cluster);
    }
}
