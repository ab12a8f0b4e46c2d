package io.lockstep.agent.server;

import com.google.protobuf.ByteString;
import io.grpc.ManagedChannel;
import io.grpc.Server;
import io.grpc.Status;
import io.grpc.StatusRuntimeException;
import io.grpc.inprocess.InProcessChannelBuilder;
import io.grpc.inprocess.InProcessServerBuilder;
import io.lockstep.manifest.ManifestCodec;
import io.lockstep.proto.AbortRequest;
import io.lockstep.proto.AgentGrpc;
import io.lockstep.proto.CaptureRequest;
import io.lockstep.proto.FreezeRequest;
import io.lockstep.proto.GroupStatus;
import io.lockstep.proto.Manifest;
import io.lockstep.proto.ManifestChunk;
import io.lockstep.proto.OpContext;
import io.lockstep.proto.OpKind;
import io.lockstep.proto.RunRequest;
import io.lockstep.proto.StageRequest;
import io.lockstep.proto.StatusRequest;
import io.lockstep.proto.ThawRequest;
import io.lockstep.zk.Decision;
import io.lockstep.zk.testing.ZkTestRoot;
import org.assertj.core.api.ThrowableAssert;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;

import java.io.ByteArrayOutputStream;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HexFormat;
import java.util.Iterator;
import java.util.List;
import java.util.UUID;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

/**
 * The agent's service boundary (AgentService), called over in-process gRPC: what a coordinator
 * receives is a status with the code it acts on and a message naming what is at fault (an
 * exception's message gets "host H: Call:" in front, see GrpcErrorsTest; a participant's own
 * status passes as it is); a refused request changes nothing; a capture streams the manifest with
 * its checksum.
 */
class AgentServiceTest {
    private static final Duration BUDGET = Duration.ofSeconds(30);
    @RegisterExtension
    final ZkTestRoot zooKeeper = new ZkTestRoot();
    private AgentParts agent;
    private Server server;
    private ManagedChannel channel;
    private AgentGrpc.AgentBlockingStub stub;

    @BeforeEach
    void serve() throws Exception {
        agent = AgentParts.start("h1", zooKeeper);
        String name = "agent-service-" + UUID.randomUUID();
        server = InProcessServerBuilder.forName(name).directExecutor().addService(agent.service).build().start();
        channel = InProcessChannelBuilder.forName(name).directExecutor().build();
        stub = AgentGrpc.newBlockingStub(channel);
    }

    /** Also fails the test if it left a group frozen. */
    @AfterEach
    void stop() throws Exception {
        try {
            channel.shutdownNow();
            server.shutdownNow();
        } finally {
            agent.close();
        }
    }

    private static void assertStatus(ThrowableAssert.ThrowingCallable call, Status.Code code, String... fragments) {
        assertThatThrownBy(call).isInstanceOfSatisfying(StatusRuntimeException.class, e -> {
            assertThat(e.getStatus().getCode()).as(e.getMessage()).isEqualTo(code);
            assertThat(e.getStatus().getDescription()).contains(fragments);
        });
    }

    private FreezeRequest freezeOf(OpContext op) {
        return FreezeRequest.newBuilder().setCtx(op).setTimeoutMs(BUDGET.toMillis()).setMaxFrozenMs(BUDGET.toMillis()).build();
    }

    @Test
    void aGroupNameThatIsNoNameIsInvalidArgumentAndNoCgroupIsCreated() throws Exception {
        OpContext escape = OpContext.newBuilder().setGroup("../escape").setOpId("ckpt-1").setEpoch(1).build();

        assertStatus(() -> stub.freeze(freezeOf(escape)), Status.Code.INVALID_ARGUMENT, "host h1: Freeze:", "../escape");
        assertStatus(() -> stub.run(RunRequest.newBuilder().setGroup("a/b").addArgv("true").build()),
                Status.Code.INVALID_ARGUMENT, "host h1: Run:", "a/b");

        assertThat(agent.groups.layout().existingGroups()).isEmpty();
    }

    @Test
    void aCaptureOfAGroupThisHostDoesNotManageIsRefusedNamingGroupAndHost() {
        OpContext ghost = OpContext.newBuilder().setGroup("ghost").setOpId("ckpt-1").setEpoch(1).build();

        Iterator<ManifestChunk> chunks = stub.capture(CaptureRequest.newBuilder().setCtx(ghost).build());

        assertStatus(chunks::next, Status.Code.FAILED_PRECONDITION, "group ghost is not managed by host h1");
    }

    @Test
    void aFreezeWithAnEpochOlderThanTheGroupsIsRefusedAndFreezesNothing() throws Exception {
        String group = AgentParts.newGroup();
        agent.run(group, "sleep", "600");
        OpContext stale = agent.open(group, OpKind.CHECKPOINT, BUDGET);
        agent.open(group, OpKind.CHECKPOINT, BUDGET);

        assertStatus(() -> stub.freeze(freezeOf(stale)), Status.Code.FAILED_PRECONDITION,
                "stale epoch 1 for group " + group, "has seen epoch 2");

        assertThat(agent.cgroup(group).isFrozen()).isFalse();
        assertThat(stub.status(StatusRequest.newBuilder().setGroup(group).build()).getGroupsList())
                .extracting(GroupStatus::getCurrentOp).containsExactly("");
    }

    @Test
    void anOpThisHostIsNoParticipantOfOrThatDoesNotExistIsRefusedNamingWhy() throws Exception {
        String group = AgentParts.newGroup();
        OpContext others = agent.open(group, OpKind.CHECKPOINT, BUDGET, "h2", "h3");

        assertStatus(() -> stub.freeze(freezeOf(others)), Status.Code.FAILED_PRECONDITION,
                "host h1 is not a participant of op " + others.getOpId() + " (participants [h2, h3])");
        assertStatus(() -> stub.freeze(freezeOf(others.toBuilder().setOpId("ckpt-9").build())),
                Status.Code.FAILED_PRECONDITION, "unknown operation ckpt-9 of group " + group);
    }

    @Test
    void aFreezeNotDoneByItsDeadlineIsDeadlineExceededAndLeavesTheGroupThawed() throws Exception {
        String group = AgentParts.newGroup();
        agent.run(group, "sleep", "600");
        OpContext op = agent.open(group, OpKind.CHECKPOINT, BUDGET);
        FreezeRequest passed = FreezeRequest.newBuilder().setCtx(op).setMaxFrozenMs(BUDGET.toMillis())
                .setDeadlineUnixMs(System.currentTimeMillis() - 1).build();

        assertStatus(() -> stub.freeze(passed), Status.Code.DEADLINE_EXCEEDED, "host h1: Freeze:", group);

        assertThat(agent.cgroup(group).isFrozen()).isFalse();
    }

    @Test
    void aRunWithoutACommandIsInvalidArgument() {
        assertStatus(() -> stub.run(RunRequest.newBuilder().setGroup(AgentParts.newGroup()).build()),
                Status.Code.INVALID_ARGUMENT, "run: no command given");
    }

    @Test
    void aManifestThatIsNotOneIsInvalidArgumentNamingTheCall() throws Exception {
        String group = AgentParts.newGroup();
        OpContext op = agent.open(group, OpKind.RESTORE, BUDGET);

        assertStatus(() -> stub.stage(StageRequest.newBuilder().setCtx(op)
                        .setManifest(ByteString.copyFromUtf8("not a manifest")).build()),
                Status.Code.INVALID_ARGUMENT, "host h1: Stage:");
        assertThat(agent.groups.find(group)).as("no group opened for a refused manifest").isEmpty();
    }

    @Test
    void aCaptureStreamsTheFramedManifestWhoseLastChunkCarriesItsChecksumAndTotals() throws Exception {
        String group = AgentParts.newGroup();
        int pid = agent.run(group, "sleep", "600");
        OpContext op = agent.open(group, OpKind.CHECKPOINT, BUDGET);
        stub.freeze(freezeOf(op));

        List<ManifestChunk> chunks = new ArrayList<>();
        stub.capture(CaptureRequest.newBuilder().setCtx(op).build()).forEachRemaining(chunks::add);

        ByteArrayOutputStream framed = new ByteArrayOutputStream();
        chunks.forEach(chunk -> framed.writeBytes(chunk.getData().toByteArray()));
        ManifestChunk last = chunks.get(chunks.size() - 1);
        assertThat(last.getLast()).isTrue();
        assertThat(last.getTotalLength()).isEqualTo(framed.size());
        assertThat(HexFormat.of().formatHex(last.getSha256().toByteArray()))
                .isEqualTo(ManifestCodec.sha256Hex(framed.toByteArray()));
        Manifest manifest = ManifestCodec.decode(framed.toByteArray());
        assertThat(last.getProcesses()).isEqualTo(manifest.getProcessesCount()).isEqualTo(1);
        assertThat(manifest.getProcesses(0).getPid()).isEqualTo(pid);

        agent.decide(op, Decision.commit());
        assertThat(stub.thaw(ThawRequest.newBuilder().setCtx(op).build()).getHostId()).isEqualTo("h1");
        assertThat(agent.cgroup(group).isFrozen()).isFalse();
    }

    @Test
    void anAbortOverTheWireAnswersWithTheHostAndThawsTheGroup() throws Exception {
        String group = AgentParts.newGroup();
        agent.run(group, "sleep", "600");
        OpContext op = agent.open(group, OpKind.CHECKPOINT, BUDGET);
        stub.freeze(freezeOf(op));

        assertThat(stub.abort(AbortRequest.newBuilder().setCtx(op).setReason("test").build()).getHostId()).isEqualTo("h1");

        assertThat(agent.cgroup(group).isFrozen()).isFalse();
        assertThat(agent.decision(op)).hasValueSatisfying(d -> assertThat(d.isCommit()).isFalse());
    }
}
