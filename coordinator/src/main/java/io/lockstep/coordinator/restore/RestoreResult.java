package io.lockstep.coordinator.restore;

import io.lockstep.proto.StagedProcess;
import io.lockstep.proto.StopReply;

import java.util.List;
import java.util.Map;

/**
 * A committed restore: which processes now run where, how many locks were re-taken, how long each
 * phase took, which running processes of the group {@code --replace} stopped first, and which
 * handed-over flock/OFD locks their programs did not take again in time.
 */
public record RestoreResult(String checkpointId, String group, String opId, long epoch,
                            Map<String, List<StagedProcess>> processesByHost, Map<String, Integer> locksByHost,
                            boolean fastPath, Map<String, Long> phaseMicros, List<StopReply> stopped,
                            List<String> handOverTimeouts) {
}
