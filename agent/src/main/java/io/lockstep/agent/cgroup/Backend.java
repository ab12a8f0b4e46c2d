package io.lockstep.agent.cgroup;

/** How a group's processes are held still, in order of preference. */
public enum Backend {
    /** cgroup v2 cgroup.freeze: atomic for the whole subtree, kernel reports completion. */
    CGROUP_V2(false),
    /** cgroup v1 freezer.state: kernel-side too, but only on hosts that still mount the v1 freezer. */
    CGROUP_V1_FREEZER(false),
    /**
     * SIGSTOP to every task of a caller-kept pid set and its descendants. Degraded: a process the
     * application stopped itself is continued on thaw, and a process that escapes the pid tree
     * (reparented to init before the walk) is not stopped.
     */
    SIGSTOP(true);

    private final boolean degraded;

    Backend(boolean degraded) {
        this.degraded = degraded;
    }

    public boolean degraded() {
        return degraded;
    }
}
