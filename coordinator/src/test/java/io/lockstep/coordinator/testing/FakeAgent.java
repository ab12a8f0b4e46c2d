package io.lockstep.coordinator.testing;

import com.google.protobuf.ByteString;
import io.grpc.Server;
import io.grpc.netty.shaded.io.grpc.netty.NettyServerBuilder;
import io.grpc.stub.StreamObserver;
import io.lockstep.manifest.ManifestCodec;
import io.lockstep.proto.AbortReply;
import io.lockstep.proto.AbortRequest;
import io.lockstep.proto.AgentGrpc;
import io.lockstep.proto.CaptureRequest;
import io.lockstep.proto.FreezeReply;
import io.lockstep.proto.FreezeRequest;
import io.lockstep.proto.HooksReply;
import io.lockstep.proto.HooksRequest;
import io.lockstep.proto.HostRecord;
import io.lockstep.proto.ManifestChunk;
import io.lockstep.proto.OpContext;
import io.lockstep.proto.OpRecord;
import io.lockstep.proto.ThawReply;
import io.lockstep.proto.ThawRequest;
import io.lockstep.zk.Phase;
import io.lockstep.zk.ZkClients;
import io.lockstep.zk.ZkJson;
import io.lockstep.zk.ZkLayout;
import org.apache.curator.framework.CuratorFramework;
import org.apache.zookeeper.CreateMode;

import java.net.InetSocketAddress;
import java.time.Duration;
import java.util.HexFormat;
import java.util.concurrent.TimeUnit;

/**
 * An agent that freezes nothing: it registers in ZooKeeper with its own session, joins barriers
 * (its captured entry on the op's all-frozen node, as a real agent) and returns a fixed manifest,
 * so that the coordinator's side of a checkpoint runs for real.
 */
public final class FakeAgent extends AgentGrpc.AgentImplBase implements AutoCloseable {
    private static final long FREEZE_TOOK_MS = 50;
    private final String hostId;
    private final ZkLayout layout;
    private final CuratorFramework zk;
    private final Server server;

    public FakeAgent(String hostId, String connectString, ZkLayout layout, String... groups) throws Exception {
        this.hostId = hostId;
        this.layout = layout;
        this.zk = ZkClients.connect(connectString, Duration.ofSeconds(10), Duration.ofSeconds(10));
        this.server = NettyServerBuilder.forAddress(new InetSocketAddress("127.0.0.1", 0)).addService(this).build().start();
        HostRecord record = HostRecord.newBuilder().setHostId(hostId).setEndpoint("127.0.0.1:" + server.getPort())
                .setVersion("test").addCapabilities("cgroup-v2").setHostname(hostId + ".example").build();
        zk.create().creatingParentContainersIfNeeded().withMode(CreateMode.EPHEMERAL)
                .forPath(layout.host(hostId), ZkJson.toBytes(record));
        for (String group : groups) {
            zk.create().creatingParentContainersIfNeeded().withMode(CreateMode.EPHEMERAL).forPath(layout.member(group, hostId));
        }
    }

    @Override
    public void runHooks(HooksRequest request, StreamObserver<HooksReply> reply) {
        // no process of a fake agent has a pre-freeze hook
        reply.onNext(HooksReply.newBuilder().setHostId(hostId).build());
        reply.onCompleted();
    }

    @Override
    public void freeze(FreezeRequest request, StreamObserver<FreezeReply> reply) {
        if (request.getArmOnly()) {
            // Step 1 of a freeze: a real agent starts its freeze guard here; nothing to fake.
            reply.onNext(FreezeReply.newBuilder().setHostId(hostId).setFreezer("cgroup-v2").build());
            reply.onCompleted();
            return;
        }
        OpContext ctx = request.getCtx();
        enterBarrier(ctx, Phase.FROZEN);
        try {
            String opPath = layout.op(ctx.getGroup(), ctx.getOpId());
            int participants = ZkJson.parse(zk.getData().forPath(opPath), OpRecord.getDefaultInstance(), opPath)
                    .getParticipantsCount();
            String allFrozen = layout.allFrozen(ctx.getGroup(), ctx.getOpId(), participants);
            if (zk.checkExists().usingWatcher((org.apache.zookeeper.Watcher) event -> {
                if (event.getType() == org.apache.zookeeper.Watcher.Event.EventType.NodeCreated) {
                    enterBarrier(ctx, Phase.CAPTURED);
                }
            }).forPath(allFrozen) != null) {
                enterBarrier(ctx, Phase.CAPTURED);
            }
        } catch (Exception e) {
            throw new IllegalStateException("host " + hostId + " cannot watch the all-frozen node", e);
        }
        // Reports the freeze as begun a while ago, so that the frozen window is never rounded to zero.
        long startedMicros = TimeUnit.MILLISECONDS.toMicros(System.currentTimeMillis() - FREEZE_TOOK_MS);
        reply.onNext(FreezeReply.newBuilder().setHostId(hostId).setFreezer("cgroup-v2").setTasks(1)
                .setFreezeMicros(TimeUnit.MILLISECONDS.toMicros(FREEZE_TOOK_MS)).setFreezeStartedUnixMicros(startedMicros).build());
        reply.onCompleted();
    }

    @Override
    public void capture(CaptureRequest request, StreamObserver<ManifestChunk> reply) {
        OpContext ctx = request.getCtx();
        byte[] framed = ManifestCodec.encode(TestCheckpoints.manifest(ctx.getGroup(), hostId, ctx.getOpId(), ctx.getEpoch()));
        enterBarrier(ctx, Phase.CAPTURED);
        reply.onNext(ManifestChunk.newBuilder().setData(ByteString.copyFrom(framed)).setLast(true)
                .setSha256(ByteString.copyFrom(HexFormat.of().parseHex(ManifestCodec.sha256Hex(framed))))
                .setTotalLength(framed.length).setProcesses(1).setLocks(1).setFiles(1)
                .setThawedAtUnixMicros(TimeUnit.MILLISECONDS.toMicros(System.currentTimeMillis())).build());
        reply.onCompleted();
    }

    @Override
    public void thaw(ThawRequest request, StreamObserver<ThawReply> reply) {
        reply.onNext(ThawReply.newBuilder().setHostId(hostId).setWasFrozen(true)
                .setThawedAtUnixMicros(TimeUnit.MILLISECONDS.toMicros(System.currentTimeMillis())).build());
        reply.onCompleted();
    }

    @Override
    public void abort(AbortRequest request, StreamObserver<AbortReply> reply) {
        reply.onNext(AbortReply.newBuilder().setHostId(hostId).build());
        reply.onCompleted();
    }

    /** Creates this host's entry of {@code phase}, once (the all-frozen signal and a Capture call may both ask). */
    private void enterBarrier(OpContext ctx, Phase phase) {
        try {
            // As a real agent's entry multi: the entry and its barrier count's child (ZkLayout.phaseCount).
            zk.transaction().forOperations(
                    zk.transactionOp().create().withMode(CreateMode.EPHEMERAL)
                            .forPath(layout.phaseEntry(ctx.getGroup(), ctx.getOpId(), phase, hostId)),
                    zk.transactionOp().create().withMode(CreateMode.PERSISTENT_SEQUENTIAL)
                            .forPath(layout.phaseCountChild(ctx.getGroup(), ctx.getOpId(), phase)));
        } catch (org.apache.zookeeper.KeeperException.NodeExistsException entered) {
            // Entered already.
        } catch (Exception e) {
            throw new IllegalStateException("host " + hostId + " cannot enter barrier " + phase.node(), e);
        }
    }

    @Override
    public void close() throws InterruptedException {
        server.shutdownNow().awaitTermination(5, TimeUnit.SECONDS);
        zk.close();
    }
}
