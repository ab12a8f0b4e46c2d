package io.lockstep.zk;

/** The barrier phases of an operation: ops/<op>/<phase>/<host>, ephemeral, created by agents. */
public enum Phase {
    FROZEN("frozen"),
    CAPTURED("captured"),
    PREPARED("prepared"),
    DONE("done");

    private final String node;

    Phase(String node) {
        this.node = node;
    }

    public String node() {
        return node;
    }
}
