package io.lockstep.zk;

import java.util.List;

/**
 * The barrier phases of an operation: ops/<op>/<phase>/<host>, ephemeral, created by agents.
 * (docs/DESIGN.md also names a "done" barrier; nothing needs it: the decision and the thaw/release
 * replies already tell the coordinator that a host is done.)
 */
public enum Phase {
    FROZEN("frozen"),
    CAPTURED("captured"),
    PREPARED("prepared");

    /**
     * A checkpoint's barriers, in order. Each has a count (ZkLayout#phaseCount) whose child made by
     * the last entry is its signal; the coordinator creates both counts when it opens a checkpoint.
     */
    public static final List<Phase> CHECKPOINT = List.of(FROZEN, CAPTURED);

    private final String node;

    Phase(String node) {
        this.node = node;
    }

    public String node() {
        return node;
    }
}
