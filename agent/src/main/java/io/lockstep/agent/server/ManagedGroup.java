package io.lockstep.agent.server;

import io.lockstep.agent.cgroup.GroupCgroup;

/**
 * One group on this host: its cgroup, the restart specs of its processes, and the operation it
 * takes part in now (at most one checkpoint freeze and one restore at a time). Callers
 * synchronize on the instance while they change the operation state.
 */
public final class ManagedGroup {
    private final String name;
    private final GroupCgroup cgroup;
    private final RestartSpecs specs;
    private final int owner;
    private FrozenState frozen;
    private RestoreSession restore;
    private RestoreSession lastRestore;
    /** The last thaw that followed a decision; read without the monitor by the Thaw RPC. */
    private volatile DecidedThaw lastDecidedThaw;
    /** The last checkpoint capture, read without the monitor by the Capture RPC. */
    private volatile KeptCapture lastCapture;
    private java.util.concurrent.CompletableFuture<Void> cleanup = java.util.concurrent.CompletableFuture.completedFuture(null);

    ManagedGroup(String name, GroupCgroup cgroup, RestartSpecs specs, int owner) {
        this.name = name;
        this.cgroup = cgroup;
        this.specs = specs;
        this.owner = owner;
    }

    /** The uid that created the group; only it (and root) may start or adopt processes into it locally. */
    public int owner() {
        return owner;
    }

    public String name() {
        return name;
    }

    public GroupCgroup cgroup() {
        return cgroup;
    }

    public RestartSpecs specs() {
        return specs;
    }

    FrozenState frozen() {
        return frozen;
    }

    void frozen(FrozenState state) {
        this.frozen = state;
    }

    /** The clean-up after the last thaw (guard cancel, barrier entries); the next freeze waits for it. */
    java.util.concurrent.CompletableFuture<Void> cleanup() {
        return cleanup;
    }

    void cleanup(java.util.concurrent.CompletableFuture<Void> pending) {
        this.cleanup = pending;
    }

    /** When this group thawed for {@code opId} on a safe signal (every host captured, or the decision), if it did. */
    java.util.OptionalLong thawedOnSignal(String opId) {
        DecidedThaw thaw = lastDecidedThaw;
        return thaw != null && thaw.opId().equals(opId) ? java.util.OptionalLong.of(thaw.atUnixMicros())
                : java.util.OptionalLong.empty();
    }

    void thawedOnSignal(String opId, long atUnixMicros) {
        this.lastDecidedThaw = new DecidedThaw(opId, atUnixMicros);
    }

    private record DecidedThaw(String opId, long atUnixMicros) {
    }

    /** The manifest captured for {@code opId}, kept in memory until the coordinator fetched it, or null. */
    CheckpointParticipant.Captured captured(String opId) {
        KeptCapture kept = lastCapture;
        return kept != null && kept.opId().equals(opId) ? kept.captured() : null;
    }

    /** Caller holds the monitor. */
    void captured(String opId, CheckpointParticipant.Captured captured) {
        this.lastCapture = new KeptCapture(opId, captured);
    }

    /** The op ended here (its decision, or a thaw that rules out its commit): its manifest is no longer wanted. */
    void forgetCapture(String opId) {
        KeptCapture kept = lastCapture;
        if (kept != null && kept.opId().equals(opId)) {
            lastCapture = null;
        }
    }

    private record KeptCapture(String opId, CheckpointParticipant.Captured captured) {
    }

    RestoreSession restore() {
        return restore;
    }

    void restore(RestoreSession session) {
        this.restore = session;
        if (session != null) {
            this.lastRestore = session;
        }
    }

    /**
     * The restore session of {@code opId}, current or ended: a release RPC that arrives after the
     * agent released everything on the decision by itself still reads its hand-over checks.
     */
    RestoreSession restoreOf(String opId) {
        RestoreSession last = lastRestore;
        return last != null && last.op().getOpId().equals(opId) ? last : null;
    }
}
