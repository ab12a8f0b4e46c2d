package io.lockstep.agent.server;

import io.grpc.Status;
import io.grpc.StatusRuntimeException;
import io.lockstep.agent.capture.CaptureException;
import io.lockstep.agent.cgroup.FreezeTimeoutException;
import io.lockstep.manifest.ManifestFormatException;
import io.lockstep.agent.nativeio.NativeException;
import io.lockstep.agent.restore.PlanRefusedException;
import io.lockstep.agent.restore.StubException;
import org.apache.zookeeper.KeeperException;

/** The one place where the agent's exceptions become gRPC statuses, each with a message naming host and cause. */
final class GrpcErrors {
    private GrpcErrors() {
    }

    static StatusRuntimeException toStatus(String hostId, String call, Throwable error) {
        if (error instanceof StatusRuntimeException status) {
            return status;
        }
        Status status;
        if (error instanceof FreezeTimeoutException) {
            status = Status.DEADLINE_EXCEEDED;
        } else if (error instanceof ManifestFormatException || error instanceof PlanRefusedException
                || error instanceof IllegalArgumentException) {
            status = Status.INVALID_ARGUMENT;
        } else if (error instanceof CaptureException || error instanceof StubException || error instanceof NativeException) {
            status = Status.ABORTED;
        } else if (error instanceof KeeperException) {
            status = Status.UNAVAILABLE;
        } else {
            status = Status.INTERNAL;
        }
        return status.withDescription("host " + hostId + ": " + call + ": " + error.getMessage()).withCause(error)
                .asRuntimeException();
    }
}
