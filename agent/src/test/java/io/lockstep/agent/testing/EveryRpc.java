package io.lockstep.agent.testing;

import io.grpc.ManagedChannel;
import io.grpc.StatusRuntimeException;
import io.grpc.netty.shaded.io.grpc.netty.NettyChannelBuilder;
import io.grpc.netty.shaded.io.netty.channel.epoll.EpollDomainSocketChannel;
import io.grpc.netty.shaded.io.netty.channel.epoll.EpollEventLoopGroup;
import io.grpc.netty.shaded.io.netty.channel.unix.DomainSocketAddress;
import io.lockstep.proto.AbortRequest;
import io.lockstep.proto.AdoptRequest;
import io.lockstep.proto.AgentGrpc;
import io.lockstep.proto.CaptureRequest;
import io.lockstep.proto.DeleteSnapshotsRequest;
import io.lockstep.proto.FreezeRequest;
import io.lockstep.proto.HooksRequest;
import io.lockstep.proto.OpContext;
import io.lockstep.proto.PrepareRequest;
import io.lockstep.proto.ReleaseRequest;
import io.lockstep.proto.RunRequest;
import io.lockstep.proto.StageRequest;
import io.lockstep.proto.StatusRequest;
import io.lockstep.proto.StopRequest;
import io.lockstep.proto.ThawRequest;
import io.lockstep.proto.ValidateRequest;
import io.lockstep.proto.RollBackRequest;

import java.util.LinkedHashMap;
import java.util.Map;
import java.util.concurrent.Callable;
import java.util.concurrent.TimeUnit;

/**
 * A caller of every Agent RPC, as whatever user runs it: {@code EveryRpc SOCKET GROUP MARKER}.
 * Each call names GROUP; Run starts {@code sh -c 'echo ran > MARKER'} as the caller's own
 * uid/gid, Adopt names pid 1. Prints one line per RPC: {@code NAME OK} or {@code NAME CODE description}.
 */
public final class EveryRpc {
    private EveryRpc() {
    }

    public static void main(String[] args) throws Exception {
        String socket = args[0];
        String group = args[1];
        String marker = args[2];
        EpollEventLoopGroup loop = new EpollEventLoopGroup(1);
        ManagedChannel channel = NettyChannelBuilder.forAddress(new DomainSocketAddress(socket))
                .channelType(EpollDomainSocketChannel.class).eventLoopGroup(loop).usePlaintext().build();
        AgentGrpc.AgentBlockingStub agent = AgentGrpc.newBlockingStub(channel).withDeadlineAfter(30, TimeUnit.SECONDS);
        OpContext ctx = OpContext.newBuilder().setGroup(group).setOpId("ckpt-7").setEpoch(7).build();
        long now = System.currentTimeMillis();
        int uid = (int) new com.sun.security.auth.module.UnixSystem().getUid();
        int gid = (int) new com.sun.security.auth.module.UnixSystem().getGid();
        Map<String, Callable<Object>> calls = new LinkedHashMap<>();
        calls.put("RunHooks", () -> agent.runHooks(HooksRequest.newBuilder().setCtx(ctx).build()));
        calls.put("Freeze", () -> agent.freeze(FreezeRequest.newBuilder().setCtx(ctx).setDeadlineUnixMs(now + 10_000)
                .setMaxFrozenMs(30_000).build()));
        calls.put("Capture", () -> agent.capture(CaptureRequest.newBuilder().setCtx(ctx).build()).hasNext());
        calls.put("Thaw", () -> agent.thaw(ThawRequest.newBuilder().setCtx(ctx).build()));
        calls.put("Abort", () -> agent.abort(AbortRequest.newBuilder().setCtx(ctx).build()));
        calls.put("Validate", () -> agent.validate(ValidateRequest.newBuilder().setCtx(ctx).build()));
        calls.put("RollBack", () -> agent.rollBack(RollBackRequest.newBuilder().setCtx(ctx).build()));
        calls.put("Stage", () -> agent.stage(StageRequest.newBuilder().setCtx(ctx).build()));
        calls.put("Prepare", () -> agent.prepare(PrepareRequest.newBuilder().setCtx(ctx).build()));
        calls.put("Release", () -> agent.release(ReleaseRequest.newBuilder().setCtx(ctx).build()));
        calls.put("Stop", () -> agent.stop(StopRequest.newBuilder().setGroup(group).build()));
        calls.put("DeleteSnapshots", () -> agent.deleteSnapshots(DeleteSnapshotsRequest.newBuilder().setGroup(group)
                .setCheckpointId("ckpt-7").build()));
        calls.put("Run", () -> agent.run(RunRequest.newBuilder().setGroup(group).addArgv("/bin/sh").addArgv("-c")
                .addArgv("echo ran > " + marker).setCwd("/").setUid(uid).setGid(gid).build()));
        calls.put("Adopt", () -> agent.adopt(AdoptRequest.newBuilder().setGroup(group).setPid(1).build()));
        calls.put("Status", () -> agent.status(StatusRequest.newBuilder().setGroup(group).build()));
        for (Map.Entry<String, Callable<Object>> call : calls.entrySet()) {
            try {
                call.getValue().call();
                System.out.println(call.getKey() + " OK");
            } catch (StatusRuntimeException e) {
                System.out.println(call.getKey() + " " + e.getStatus().getCode() + " " + e.getStatus().getDescription());
            }
        }
        channel.shutdownNow().awaitTermination(5, TimeUnit.SECONDS);
        loop.shutdownGracefully(0, 1, TimeUnit.SECONDS);
    }
}
