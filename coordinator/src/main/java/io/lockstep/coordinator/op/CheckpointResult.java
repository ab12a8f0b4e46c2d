package io.lockstep.coordinator.op;

import io.lockstep.proto.CatalogEntry;

import java.util.List;
import java.util.Map;

/** A committed checkpoint, as the operator sees it. */
public record CheckpointResult(String checkpointId, String group, long epoch, List<String> hosts, int processes,
                               int locks, int files, long frozenWindowMicros, Map<String, Long> phaseMicros,
                               CatalogEntry catalogEntry) {
}
