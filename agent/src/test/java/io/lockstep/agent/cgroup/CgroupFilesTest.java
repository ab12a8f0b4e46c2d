package io.lockstep.agent.cgroup;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Files;
import java.nio.file.Path;

import static org.assertj.core.api.Assertions.assertThat;

class CgroupFilesTest {
    /**
     * cgroup.procs lists a task that is exiting as 0; the kill rounds of {@code killAll} then sent
     * SIGKILL to pid 0, the caller's own process group (a whole soak run died so, four times).
     */
    @Test
    void anExitingTaskListedAsZeroIsNotAnId(@TempDir Path dir) throws Exception {
        Path procs = Files.writeString(dir.resolve("cgroup.procs"), "0\n31868\n31873\n");

        assertThat(CgroupFiles.ids(procs)).containsExactly(31868, 31873);
    }
}
