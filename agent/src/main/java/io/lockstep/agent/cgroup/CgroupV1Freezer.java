package io.lockstep.agent.cgroup;

import java.io.IOException;
import java.nio.file.Path;

/** Freezes a cgroup v1 freezer group through freezer.state, waiting for FROZEN (not FREEZING). */
final class CgroupV1Freezer extends CgroupFreezer {
    private final Path state;

    CgroupV1Freezer(CgroupV1FreezerGroup group) {
        super(group);
        this.state = group.path.resolve("freezer.state");
    }

    @Override
    public Backend backend() {
        return Backend.CGROUP_V1_FREEZER;
    }

    @Override
    void requestFreeze() throws IOException {
        CgroupFiles.write(state, "FROZEN");
    }

    @Override
    public void thaw() throws IOException {
        CgroupFiles.write(state, "THAWED");
    }

    @Override
    public boolean isFrozen() throws IOException {
        // Reading freezer.state re-checks the tasks: FREEZING turns FROZEN once the last one is.
        return CgroupFiles.read(state).equals("FROZEN");
    }

    @Override
    boolean looksFrozen(TaskReport task) {
        return task.wchan().equals("__refrigerator");
    }

    @Override
    public String thawScript() {
        return "echo THAWED > " + CgroupFiles.shellQuote(state.toString());
    }
}
