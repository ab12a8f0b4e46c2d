package io.lockstep.zk;

/**
 * The barrier phases of an operation: ops/<op>/<phase>/<host>, ephemeral, created by agents.
 * (docs/DESIGN.md also names a "done" barrier; nothing needs it: the decision and the thaw/release
 * replies already tell the coordinator that a host is done.)
 */
public enum Phase {
    FROZEN("frozen"),
    CAPTURED("captured"),
    PREPARED("prepared");

    private final String node;

    Phase(String node) {
        this.node = node;
    }

    public String node() {
        return node;
    }
}
