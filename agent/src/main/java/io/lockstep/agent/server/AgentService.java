package io.lockstep.agent.server;

import com.google.protobuf.ByteString;
import io.grpc.stub.StreamObserver;
import io.lockstep.proto.AbortReply;
import io.lockstep.proto.AbortRequest;
import io.lockstep.proto.AdoptReply;
import io.lockstep.proto.AdoptRequest;
import io.lockstep.proto.AgentGrpc;
import io.lockstep.proto.CaptureRequest;
import io.lockstep.proto.DeleteSnapshotsReply;
import io.lockstep.proto.DeleteSnapshotsRequest;
import io.lockstep.proto.FreezeReply;
import io.lockstep.proto.FreezeRequest;
import io.lockstep.proto.HooksReply;
import io.lockstep.proto.HooksRequest;
import io.lockstep.proto.ManifestChunk;
import io.lockstep.proto.PrepareReply;
import io.lockstep.proto.PrepareRequest;
import io.lockstep.proto.ReleaseReply;
import io.lockstep.proto.ReleaseRequest;
import io.lockstep.proto.RunReply;
import io.lockstep.proto.RunRequest;
import io.lockstep.proto.StageReply;
import io.lockstep.proto.StageRequest;
import io.lockstep.proto.StatusReply;
import io.lockstep.proto.StatusRequest;
import io.lockstep.proto.StopReply;
import io.lockstep.proto.StopRequest;
import io.lockstep.proto.ThawReply;
import io.lockstep.proto.ThawRequest;
import io.lockstep.proto.ValidateReply;
import io.lockstep.proto.RollBackReply;
import io.lockstep.proto.RollBackRequest;
import io.lockstep.proto.ValidateRequest;

import io.lockstep.zk.ZkLayout;

import java.util.HexFormat;

/** The agent's gRPC surface: translation only; the work is in the participants. */
final class AgentService extends AgentGrpc.AgentImplBase {
    private static final int CHUNK_BYTES = 1 << 20;

    private final String hostId;
    private final CheckpointParticipant checkpoint;
    private final CheckpointHooks hooks;
    private final RestoreParticipant restore;
    private final SnapshotRetention retention;
    private final GroupProcesses processes;
    private final AgentStatus status;
    private final AgentMetrics metrics;

    AgentService(String hostId, CheckpointParticipant checkpoint, CheckpointHooks hooks, RestoreParticipant restore,
                 SnapshotRetention retention,
                 GroupProcesses processes, AgentStatus status, AgentMetrics metrics) {
        this.hostId = hostId;
        this.checkpoint = checkpoint;
        this.hooks = hooks;
        this.restore = restore;
        this.retention = retention;
        this.processes = processes;
        this.status = status;
        this.metrics = metrics;
    }

    @FunctionalInterface
    private interface Call<T> {
        T run() throws Exception;
    }

    private <T> void unary(String name, StreamObserver<T> observer, Call<T> call) {
        T reply;
        try {
            reply = call.run();
        } catch (Exception | Error e) {
            observer.onError(GrpcErrors.toStatus(hostId, name, e));
            return;
        }
        observer.onNext(reply);
        observer.onCompleted();
    }

    /** A phase call of an operation: as {@link #unary}, timed per phase and outcome before the reply goes out. */
    private <T> void phase(String phase, String name, StreamObserver<T> observer, Call<T> call) {
        unary(name, observer, () -> {
            long start = System.nanoTime();
            boolean ok = false;
            try {
                T reply = call.run();
                ok = true;
                return reply;
            } finally {
                metrics.phase(phase, System.nanoTime() - start, ok);
            }
        });
    }

    /**
     * Every request names its group; a name that is not one (`../x`, `a/b`, absolute, over-long)
     * is refused here, before any participant could turn it into a cgroup or state path.
     */
    private static <T> T checked(String group, T request) {
        ZkLayout.checkName("group", group);
        return request;
    }

    @Override
    public void runHooks(HooksRequest request, StreamObserver<HooksReply> observer) {
        phase("hooks", "RunHooks", observer, () -> hooks.run(checked(request.getCtx().getGroup(), request)));
    }

    @Override
    public void freeze(FreezeRequest request, StreamObserver<FreezeReply> observer) {
        phase(request.getArmOnly() ? "arm" : "freeze", "Freeze", observer,
                () -> checkpoint.freeze(checked(request.getCtx().getGroup(), request)));
    }

    @Override
    public void capture(CaptureRequest request, StreamObserver<ManifestChunk> observer) {
        // The capture itself runs on the all-frozen signal (metric phase "capture"); this call
        // fetches its manifest after the thaw.
        CheckpointParticipant.Captured captured;
        long start = System.nanoTime();
        try {
            captured = checkpoint.capture(checked(request.getCtx().getGroup(), request));
        } catch (Exception | Error e) {
            metrics.phase("fetch", System.nanoTime() - start, false);
            observer.onError(GrpcErrors.toStatus(hostId, "Capture", e));
            return;
        }
        metrics.phase("fetch", System.nanoTime() - start, true);
        byte[] framed = captured.framed();
        for (int offset = 0; offset < framed.length || offset == 0; offset += CHUNK_BYTES) {
            int length = Math.min(CHUNK_BYTES, framed.length - offset);
            boolean last = offset + length >= framed.length;
            ManifestChunk.Builder chunk = ManifestChunk.newBuilder().setData(ByteString.copyFrom(framed, offset, length))
                    .setLast(last);
            if (last) {
                chunk.setSha256(ByteString.copyFrom(HexFormat.of().parseHex(captured.sha256Hex())))
                        .setTotalLength(framed.length)
                        .setProcesses(captured.stats().processes())
                        .setLocks(captured.stats().locks())
                        .setFiles(captured.stats().files())
                        .setThawedAtUnixMicros(captured.thawedAtUnixMicros());
            }
            observer.onNext(chunk.build());
            if (last) {
                break;
            }
        }
        observer.onCompleted();
    }

    @Override
    public void thaw(ThawRequest request, StreamObserver<ThawReply> observer) {
        phase("thaw", "Thaw", observer, () -> checkpoint.thaw(checked(request.getCtx().getGroup(), request)));
    }

    @Override
    public void abort(AbortRequest request, StreamObserver<AbortReply> observer) {
        phase("abort", "Abort", observer, () -> {
            checked(request.getCtx().getGroup(), request);
            checkpoint.abort(request);
            restore.abort(request);
            return AbortReply.newBuilder().setHostId(hostId).build();
        });
    }

    @Override
    public void validate(ValidateRequest request, StreamObserver<ValidateReply> observer) {
        phase("validate", "Validate", observer, () -> restore.validate(checked(request.getCtx().getGroup(), request)));
    }

    @Override
    public void rollBack(RollBackRequest request, StreamObserver<RollBackReply> observer) {
        phase("roll-back", "RollBack", observer, () -> restore.rollBack(checked(request.getCtx().getGroup(), request)));
    }

    @Override
    public void stage(StageRequest request, StreamObserver<StageReply> observer) {
        phase("stage", "Stage", observer, () -> restore.stage(checked(request.getCtx().getGroup(), request)));
    }

    @Override
    public void prepare(PrepareRequest request, StreamObserver<PrepareReply> observer) {
        phase("prepare", "Prepare", observer, () -> restore.prepare(checked(request.getCtx().getGroup(), request)));
    }

    @Override
    public void release(ReleaseRequest request, StreamObserver<ReleaseReply> observer) {
        phase("release", "Release", observer, () -> restore.release(checked(request.getCtx().getGroup(), request)));
    }

    @Override
    public void deleteSnapshots(DeleteSnapshotsRequest request, StreamObserver<DeleteSnapshotsReply> observer) {
        unary("DeleteSnapshots", observer, () -> retention.delete(checked(request.getGroup(), request)));
    }

    @Override
    public void run(RunRequest request, StreamObserver<RunReply> observer) {
        unary("Run", observer, () -> processes.run(checked(request.getGroup(), request)));
    }

    @Override
    public void adopt(AdoptRequest request, StreamObserver<AdoptReply> observer) {
        unary("Adopt", observer, () -> processes.adopt(checked(request.getGroup(), request)));
    }

    @Override
    public void stop(StopRequest request, StreamObserver<StopReply> observer) {
        unary("Stop", observer, () -> processes.stop(checked(request.getGroup(), request), hostId));
    }

    @Override
    public void status(StatusRequest request, StreamObserver<StatusReply> observer) {
        unary("Status", observer, () -> status.status(request));
    }
}
