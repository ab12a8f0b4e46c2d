package io.lockstep.coordinator.op;

import io.lockstep.proto.StagedProcess;

import java.util.List;
import java.util.Map;

/** A committed restore: which processes now run where, how many locks were re-taken, and how long each phase took. */
public record RestoreResult(String checkpointId, String group, String opId, long epoch,
                            Map<String, List<StagedProcess>> processesByHost, Map<String, Integer> locksByHost,
                            boolean fastPath, Map<String, Long> phaseMicros) {
}
