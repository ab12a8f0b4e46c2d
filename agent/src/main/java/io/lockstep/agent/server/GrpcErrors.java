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
        String prefix = "host " + hostId + ": " + call + ": ";
        if (error instanceof StatusRuntimeException chosen) {
            // A participant chose the status (its code is what the coordinator acts on): it keeps
            // code, cause and trailers, and gains the host and call like every other answer.
            Status status = chosen.getStatus();
            String description = status.getDescription() == null ? "" : status.getDescription();
            return description.startsWith(prefix) ? chosen
                    : status.withDescription(prefix + description).asRuntimeException(chosen.getTrailers());
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
        return status.withDescription(prefix + error.getMessage()).withCause(error)
                .asRuntimeException();
    }
}
