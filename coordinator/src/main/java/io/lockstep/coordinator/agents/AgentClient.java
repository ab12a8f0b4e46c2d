package io.lockstep.coordinator.agents;

import io.grpc.Deadline;
import io.grpc.ConnectivityState;
import io.grpc.ManagedChannel;
import io.grpc.Status;
import io.grpc.StatusRuntimeException;
import io.lockstep.proto.DeleteSnapshotsReply;
import io.lockstep.proto.DeleteSnapshotsRequest;
import io.lockstep.proto.AbortReply;
import io.lockstep.proto.AbortRequest;
import io.lockstep.proto.AgentGrpc;
import io.lockstep.proto.CaptureRequest;
import io.lockstep.proto.FreezeReply;
import io.lockstep.proto.FreezeRequest;
import io.lockstep.proto.HooksReply;
import io.lockstep.proto.HooksRequest;
import io.lockstep.proto.ManifestChunk;
import io.lockstep.proto.PrepareReply;
import io.lockstep.proto.PrepareRequest;
import io.lockstep.proto.ReleaseReply;
import io.lockstep.proto.ReleaseRequest;
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

import java.io.ByteArrayOutputStream;
import java.time.Duration;
import java.util.Iterator;
import java.util.concurrent.TimeUnit;
import java.util.function.Supplier;

/**
 * One agent, seen from the coordinator. Every call has a deadline, and every failure becomes an
 * {@link AgentCallException} naming the host: the one place where gRPC statuses are mapped.
 */
public final class AgentClient {
    private final String hostId;
    private final ManagedChannel channel;
    private final AgentGrpc.AgentBlockingStub stub;

    AgentClient(String hostId, ManagedChannel channel) {
        this.hostId = hostId;
        this.channel = channel;
        this.stub = AgentGrpc.newBlockingStub(channel);
    }

    public String hostId() {
        return hostId;
    }

    /**
     * Starts connecting (TCP, TLS, HTTP/2) without waiting: a caller that does this before the
     * operation opens keeps the connection set-up out of the first call, where for a freeze it
     * would land inside the hosts' frozen window.
     */
    public void connect() {
        channel.getState(true);
    }

    /**
     * Whether the connection to the agent failed: a dead agent's host refuses it at once, where
     * waiting for its ZooKeeper session to expire would take a session timeout. A connection that
     * closed is opened again (asked for, not waited for). Reads the channel's state only: no call.
     */
    public boolean connectionFailed() {
        return channel.getState(true) == ConnectivityState.TRANSIENT_FAILURE;
    }

    private AgentGrpc.AgentBlockingStub within(Duration timeout) {
        return stub.withDeadline(Deadline.after(Math.max(1, timeout.toMillis()), TimeUnit.MILLISECONDS));
    }

    private <T> T call(String name, Supplier<T> rpc) throws AgentCallException {
        try {
            return rpc.get();
        } catch (StatusRuntimeException e) {
            if (e.getStatus().getCode() == Status.Code.DEADLINE_EXCEEDED) {
                // No answer in time: the connection may be stalled. A partition leaves TCP
                // connections open but silent, and once it heals they resume only at their next
                // retransmission, tens of seconds later; later calls go out on a new connection.
                channel.enterIdle();
            }
            throw new AgentCallException(hostId, name, e.getStatus());
        }
    }

    public HooksReply runHooks(HooksRequest request, Duration timeout) throws AgentCallException {
        return call("RunHooks", () -> within(timeout).runHooks(request));
    }

    public FreezeReply freeze(FreezeRequest request, Duration timeout) throws AgentCallException {
        return call("Freeze", () -> within(timeout).freeze(request));
    }

    /**
     * The captured manifest, reassembled from its chunks, with the agent's totals and when it
     * thawed (0: still frozen).
     */
    public record CapturedManifest(byte[] framed, String sha256Hex, int processes, int locks, int files,
                                   long thawedAtUnixMicros) {
    }

    public CapturedManifest capture(CaptureRequest request, Duration timeout) throws AgentCallException {
        return call("Capture", () -> {
            ByteArrayOutputStream bytes = new ByteArrayOutputStream();
            Iterator<ManifestChunk> chunks = within(timeout).capture(request);
            while (chunks.hasNext()) {
                ManifestChunk chunk = chunks.next();
                bytes.writeBytes(chunk.getData().toByteArray());
                if (chunk.getLast()) {
                    return new CapturedManifest(bytes.toByteArray(),
                            java.util.HexFormat.of().formatHex(chunk.getSha256().toByteArray()),
                            chunk.getProcesses(), chunk.getLocks(), chunk.getFiles(), chunk.getThawedAtUnixMicros());
                }
            }
            throw new StatusRuntimeException(io.grpc.Status.DATA_LOSS.withDescription(
                    "manifest stream ended without its last chunk after " + bytes.size() + " bytes"));
        });
    }

    public ThawReply thaw(ThawRequest request, Duration timeout) throws AgentCallException {
        return call("Thaw", () -> within(timeout).thaw(request));
    }

    public AbortReply abort(AbortRequest request, Duration timeout) throws AgentCallException {
        return call("Abort", () -> within(timeout).abort(request));
    }

    public ValidateReply validate(ValidateRequest request, Duration timeout) throws AgentCallException {
        return call("Validate", () -> within(timeout).validate(request));
    }

    public RollBackReply rollBack(RollBackRequest request, Duration timeout) throws AgentCallException {
        return call("RollBack", () -> within(timeout).rollBack(request));
    }

    public DeleteSnapshotsReply deleteSnapshots(DeleteSnapshotsRequest request, Duration timeout) throws AgentCallException {
        return call("DeleteSnapshots", () -> within(timeout).deleteSnapshots(request));
    }

    public StageReply stage(StageRequest request, Duration timeout) throws AgentCallException {
        return call("Stage", () -> within(timeout).stage(request));
    }

    public PrepareReply prepare(PrepareRequest request, Duration timeout) throws AgentCallException {
        return call("Prepare", () -> within(timeout).prepare(request));
    }

    public ReleaseReply release(ReleaseRequest request, Duration timeout) throws AgentCallException {
        return call("Release", () -> within(timeout).release(request));
    }

    public StatusReply status(StatusRequest request, Duration timeout) throws AgentCallException {
        return call("Status", () -> within(timeout).status(request));
    }

    public StopReply stop(StopRequest request, Duration timeout) throws AgentCallException {
        return call("Stop", () -> within(timeout).stop(request));
    }

    ManagedChannel channel() {
        return channel;
    }
}
