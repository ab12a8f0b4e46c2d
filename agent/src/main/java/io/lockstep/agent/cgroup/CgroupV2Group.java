package io.lockstep.agent.cgroup;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;

/** A group as a cgroup v2 directory. */
final class CgroupV2Group extends CgroupDirectoryGroup {
    private final CgroupV2Freezer freezer = new CgroupV2Freezer(this);

    CgroupV2Group(String name, Path path) {
        super(name, path);
    }

    @Override
    public Backend backend() {
        return Backend.CGROUP_V2;
    }

    @Override
    Path tasksFile() {
        return path.resolve("cgroup.threads");
    }

    @Override
    public boolean isFrozen() throws IOException {
        return freezer.isFrozen();
    }

    @Override
    void startKill() throws IOException {
        // cgroup.kill (5.14+) kills the whole subtree atomically, frozen or not, forks in flight included.
        Path kill = path.resolve("cgroup.kill");
        if (Files.exists(kill)) {
            CgroupFiles.write(kill, "1");
        }
    }

    @Override
    public Freezer freezer() {
        return freezer;
    }
}
