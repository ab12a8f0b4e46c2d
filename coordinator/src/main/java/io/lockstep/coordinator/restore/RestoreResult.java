package io.lockstep.coordinator.restore;

import io.lockstep.proto.ServerMatch;
import io.lockstep.proto.StagedProcess;

import java.util.List;
import java.util.Map;

/**
 * A committed restore: which processes now run where, how many locks were re-taken, how long each
 * phase took, and per target host how each recorded network export was matched to a mount there.
 */
public record RestoreResult(String checkpointId, String group, String opId, long epoch,
                            Map<String, List<StagedProcess>> processesByHost, Map<String, Integer> locksByHost,
                            boolean fastPath, Map<String, Long> phaseMicros,
                            Map<String, List<ServerMatch>> serverMatchesByHost) {
}
