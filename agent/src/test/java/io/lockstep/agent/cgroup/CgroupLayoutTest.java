package io.lockstep.agent.cgroup;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.nio.file.Path;
import java.util.List;
import java.util.Optional;
import java.util.UUID;
import org.junit.jupiter.api.Test;

class CgroupLayoutTest {
    @Test
    void findsCgroup2AndV1FreezerOnAHybridHost() {
        CgroupLayout.Mounts mounts = CgroupLayout.parseMountinfo(List.of(
                "30 22 0:27 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755",
                "31 30 0:28 / /sys/fs/cgroup/cpu rw,relatime shared:9 - cgroup cgroup rw,cpu",
                "36 30 0:33 / /sys/fs/cgroup/freezer rw,relatime - cgroup cgroup rw,freezer",
                "40 30 0:37 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw"));
        assertThat(mounts.cgroup2()).contains(Path.of("/sys/fs/cgroup/unified"));
        assertThat(mounts.freezerV1()).contains(Path.of("/sys/fs/cgroup/freezer"));
    }

    @Test
    void findsCgroup2AloneOnAPureV2Host() {
        CgroupLayout.Mounts mounts = CgroupLayout.parseMountinfo(List.of(
                "25 21 0:22 / /sys/fs/cgroup rw,nosuid,nodev,noexec,relatime shared:4 - cgroup2 cgroup2 rw,nsdelegate",
                "26 21 0:23 / /proc rw,nosuid - proc proc rw"));
        assertThat(mounts.cgroup2()).contains(Path.of("/sys/fs/cgroup"));
        assertThat(mounts.freezerV1()).isEmpty();
    }

    @Test
    void decodesEscapedMountPoints() {
        CgroupLayout.Mounts mounts = CgroupLayout.parseMountinfo(List.of(
                "25 21 0:22 / /mnt/cg\\040two rw - cgroup2 none rw"));
        assertThat(mounts.cgroup2()).contains(Path.of("/mnt/cg two"));
    }

    @Test
    void rejectsNamesThatCouldLeaveTheRoot() {
        for (String bad : new String[] {"..", ".", "a/b", "../x", "a..b", "", "x".repeat(65), "a b", "$(id)"}) {
            assertThatThrownBy(() -> CgroupLayout.validateName("group name", bad))
                    .as("name '%s'", bad).isInstanceOf(IllegalArgumentException.class)
                    .hasMessageContaining("invalid group name");
        }
        assertThat(CgroupLayout.validateName("group name", "web-1_a.b")).isEqualTo("web-1_a.b");
        assertThat(CgroupLayout.validateName("group name", "x".repeat(64))).hasSize(64);
    }

    @Test
    void detectsThisHostAndPutsGroupsUnderItsRoot() throws Exception {
        String root = "lockstep-test-" + UUID.randomUUID();
        CgroupLayout layout = CgroupLayout.detect(root);
        try {
            assertThat(layout.available()).contains(Backend.SIGSTOP);
            assertThat(layout.backend()).isEqualTo(layout.available().iterator().next());
            assertThat(layout.withBackend(Backend.SIGSTOP).degraded()).isTrue();
            assertThat(layout.withBackend(Backend.SIGSTOP).forGroup("g").path()).isEmpty();
            assertThatThrownBy(() -> layout.forGroup("../etc")).isInstanceOf(IllegalArgumentException.class);
            if (layout.available().contains(Backend.CGROUP_V2)) {
                Optional<Path> path = layout.withBackend(Backend.CGROUP_V2).forGroup("g").path();
                assertThat(path).contains(layout.cgroup2Mount().orElseThrow().resolve(root).resolve("g"));
            }
            if (layout.available().contains(Backend.CGROUP_V1_FREEZER)) {
                Optional<Path> path = layout.withBackend(Backend.CGROUP_V1_FREEZER).forGroup("g").path();
                assertThat(path).contains(layout.freezerV1Mount().orElseThrow().resolve(root).resolve("g"));
            }
        } finally {
            layout.removeRootIfEmpty();
        }
        layout.cgroup2Mount().ifPresent(m -> assertThat(m.resolve(root)).doesNotExist());
    }

    @Test
    void refusesABackendThisHostLacks() throws Exception {
        CgroupLayout layout = CgroupLayout.detect("lockstep-test-" + UUID.randomUUID());
        try {
            for (Backend backend : Backend.values()) {
                if (!layout.available().contains(backend)) {
                    assertThatThrownBy(() -> layout.withBackend(backend)).isInstanceOf(IllegalStateException.class)
                            .hasMessageContaining(backend.name());
                }
            }
        } finally {
            layout.removeRootIfEmpty();
        }
    }
}
