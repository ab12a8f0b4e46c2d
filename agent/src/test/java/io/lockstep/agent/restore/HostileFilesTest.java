package io.lockstep.agent.restore;

import static io.lockstep.agent.restore.StubFixture.NOBODY;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.lockstep.agent.nativeio.LibC;
import io.lockstep.proto.FdKind;
import io.lockstep.proto.FdRecord;
import io.lockstep.proto.LockKind;
import io.lockstep.proto.LockRecord;
import io.lockstep.proto.LockType;
import io.lockstep.proto.ProcessRecord;
import io.lockstep.proto.RestartSpec;
import io.lockstep.proto.StubPlan;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.attribute.PosixFilePermissions;
import java.util.List;
import java.util.Optional;
import java.util.stream.Stream;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * Manifests whose files lead somewhere they must not: outside the agent's allowed roots, through
 * symbolic links, into /proc, or swapped after the agent checked them. The planner refuses what it
 * can see; the stub refuses a file swapped between the agent's check and its own open.
 */
class HostileFilesTest {
    private static final PathResolver OLD_PATH = fd -> Optional.of(fd.getPath()).filter(
            p -> Files.exists(Path.of(p), java.nio.file.LinkOption.NOFOLLOW_LINKS));

    private StubFixture fixture;
    private Path allowed;
    private Path outside;

    @BeforeEach
    void setUp() throws Exception {
        fixture = new StubFixture();
        allowed = Files.createDirectory(fixture.dir.resolve("allowed"));
        outside = Files.createDirectory(fixture.dir.resolve("outside"));
    }

    @AfterEach
    void tearDown() throws Exception {
        fixture.close();
    }

    private ProcessRecord process(Path file, Path cwd) {
        return ProcessRecord.newBuilder().setPid(77).setComm("app").setCwd(cwd.toString())
                .setRestart(RestartSpec.newBuilder().addArgv("/bin/sh").addArgv("-c").addArgv("exec sleep 600")
                        .setUid(NOBODY).setGid(NOBODY).putEnv("PATH", "/usr/bin:/bin"))
                .addFds(FdRecord.newBuilder().setFd(3).setKind(FdKind.FD_REGULAR).setPath(file.toString())
                        .setOpenFlags(LibC.O_RDWR))
                .addLocks(LockRecord.newBuilder().setFd(3).setKind(LockKind.POSIX).setType(LockType.WRITE)
                        .setStart(0).setEnd(-1))
                .build();
    }

    private StubPlanner planner() {
        return new StubPlanner(OLD_PATH, new AllowedRoots(List.of(allowed)), 1024);
    }

    static Stream<Arguments> hostileFiles() {
        return Stream.of(
                Arguments.of("a file outside the allowed roots", "outside-file", "outside the agent's allowed roots"),
                Arguments.of("a symbolic link as the file", "link-to-outside", "is a symbolic link"),
                Arguments.of("a linked directory leading out of the roots", "linked-dir", "outside the agent's allowed roots"),
                Arguments.of("a cwd outside the allowed roots", "outside-cwd", "cwd"));
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("hostileFiles")
    void theStubPlannerRefusesFilesThatLeadOutOfTheAllowedRoots(String description, String shape, String refusal)
            throws Exception {
        Path secret = fixture.file("outside/secret", 10);
        Path inside = fixture.file("allowed/data", 10);
        Path file = switch (shape) {
            case "outside-file" -> secret;
            case "link-to-outside" -> Files.createSymbolicLink(allowed.resolve("link"), secret);
            case "linked-dir" -> Files.createSymbolicLink(allowed.resolve("sub"), outside).resolve("secret");
            default -> inside;
        };
        Path cwd = shape.equals("outside-cwd") ? outside : allowed;

        assertThatThrownBy(() -> planner().plan(process(file, cwd), "ckpt-1", false))
                .isInstanceOf(PlanRefusedException.class)
                .hasMessageContaining("process 77 (app)")
                .hasMessageContaining(refusal);
    }

    @Test
    void procAndSysAreNeverRestorableWhateverTheRoots() throws Exception {
        StubPlanner everywhere = new StubPlanner(OLD_PATH, AllowedRoots.EVERYWHERE, 1024);
        ProcessRecord procFile = process(Path.of("/proc/self/status"), allowed);

        assertThatThrownBy(() -> everywhere.plan(procFile, "ckpt-1", false))
                .isInstanceOf(PlanRefusedException.class)
                .hasMessageContaining("fd 3 (/proc/self/status)")
                .hasMessageContaining("kernel interface under /proc");
        assertThatThrownBy(() -> new AllowedRoots(List.of(Path.of("relative")))).hasMessageContaining("not an absolute path");
    }

    /**
     * A JVM reads its cgroup's memory.stat now and then; a freeze that catches the fd open must not
     * make the checkpoint unrestorable (a fresh-clone run was refused so). Without a lock through it,
     * a kernel interface is left closed, whatever it names; the restarted program opens its own.
     */
    @Test
    void aKernelInterfaceWithoutALockIsLeftClosed() throws Exception {
        StubPlanner everywhere = new StubPlanner(OLD_PATH, AllowedRoots.EVERYWHERE, 1024);
        for (String kernelFile : List.of("/sys/fs/cgroup/memory.stat", "/proc/self/status")) {
            ProcessRecord unlocked = process(Path.of(kernelFile), allowed).toBuilder().clearLocks().build();

            StubPlan plan = everywhere.plan(unlocked, "ckpt-1", false);

            assertThat(plan.getFdsList()).as("fds reopened for " + kernelFile).isEmpty();
        }
    }

    @Test
    void aPlanCarriesTheIdentityTheAgentChecked() throws Exception {
        Path data = fixture.file("allowed/data", 10);

        StubPlan plan = planner().plan(process(data, allowed), "ckpt-1", false);

        assertThat(plan.getFds(0).getPath()).isEqualTo(data.toRealPath().toString());
        assertThat(plan.getFds(0).getInode()).isEqualTo(StubFixture.inode(data));
        assertThat(plan.getFds(0).getDev()).isEqualTo((Long) Files.getAttribute(data, "unix:dev"));
    }

    /** The swap a hostile user makes between the agent's check and the stub's open. */
    static Stream<Arguments> swaps() {
        return Stream.of(
                Arguments.of("swapped for a symbolic link", "Too many levels of symbolic links"),
                Arguments.of("replaced by another file", "file changed since the agent checked it"));
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("swaps")
    void aStubRefusesAFileSwappedAfterTheAgentCheckedIt(String description, String refusal) throws Exception {
        Path data = fixture.file("allowed/data", 10);
        Path other = fixture.file("outside/other", 10);
        StubPlan plan = planner().plan(process(data, allowed), "ckpt-1", false);
        Path checked = data.toRealPath();
        Path swap = fixture.dir.resolve("allowed/swap");
        if (description.contains("link")) {
            Files.createSymbolicLink(swap, other);
        } else {
            Files.copy(other, swap);
            Files.setPosixFilePermissions(swap, PosixFilePermissions.fromString("rw-rw-rw-"));
        }
        Files.move(swap, data, StandardCopyOption.ATOMIC_MOVE, StandardCopyOption.REPLACE_EXISTING);

        StubHandle stub = fixture.launch(plan);
        assertThatThrownBy(() -> stub.stage(StubFixture.deadline()))
                .isInstanceOf(StubException.class)
                .hasMessageContaining("fd 3 (" + checked + ")")
                .hasMessageContaining(refusal);

        assertThat(stub.process().onExit().join().exitValue()).as("the stub exits").isNotZero();
        StubFixture.assertNoLocksOf(stub.pid(), data, other);
        assertThat(Files.readString(other)).as("the other file is untouched").hasSize(10);
    }
}
