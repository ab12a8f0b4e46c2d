package io.lockstep.agent.cgroup;

import java.io.IOException;
import java.nio.file.Path;
import java.util.Set;

/** A group as a cgroup v1 freezer directory. */
final class CgroupV1FreezerGroup extends CgroupDirectoryGroup {
    private final CgroupV1Freezer freezer = new CgroupV1Freezer(this);

    CgroupV1FreezerGroup(String name, Path path) {
        super(name, path);
    }

    @Override
    public Backend backend() {
        return Backend.CGROUP_V1_FREEZER;
    }

    @Override
    Path tasksFile() {
        return path.resolve("tasks");
    }

    @Override
    public boolean isFrozen() throws IOException {
        return freezer.isFrozen();
    }

    @Override
    void startKill() {
        // v1 has no group kill: killAll's rounds signal every pid.
    }

    @Override
    public Freezer freezer() {
        return freezer;
    }
}
