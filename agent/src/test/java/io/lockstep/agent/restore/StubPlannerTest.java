package io.lockstep.agent.restore;

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
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Optional;
import java.util.function.UnaryOperator;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class StubPlannerTest {
    /** Files are where they were recorded: the resolver for same-host restores. */
    private static final PathResolver OLD_PATH = fd -> Optional.of(fd.getPath()).filter(p -> Files.exists(Path.of(p)));

    @TempDir
    Path dir;

    private final StubPlanner planner = new StubPlanner(OLD_PATH, 1024);

    private ProcessRecord process() throws IOException {
        Path data = Files.writeString(dir.resolve("data"), "x");
        return ProcessRecord.newBuilder().setPid(77).setComm("app").setCwd(dir.toString())
                .setRestart(RestartSpec.newBuilder().addArgv("/bin/app").setUid(1000).setGid(1000)
                        .putEnv("HOME", "/home/app"))
                .addFds(FdRecord.newBuilder().setFd(0).setKind(FdKind.FD_CHAR_DEVICE).setPath("/dev/pts/0"))
                .addFds(FdRecord.newBuilder().setFd(3).setKind(FdKind.FD_REGULAR).setPath(data.toString())
                        .setOpenFlags(LibC.O_RDWR | LibC.O_CREAT | LibC.O_TRUNC | LibC.O_CLOEXEC).setOffset(1))
                .addFds(FdRecord.newBuilder().setFd(4).setKind(FdKind.FD_DIRECTORY).setPath(dir.toString()))
                .addFds(FdRecord.newBuilder().setFd(5).setKind(FdKind.FD_PIPE).setPath("pipe:[123]"))
                .addLocks(LockRecord.newBuilder().setFd(3).setKind(LockKind.POSIX).setType(LockType.WRITE)
                        .setStart(0).setEnd(-1))
                .build();
    }

    @Test
    void plansRegularFilesAndDirectoriesOnly() throws Exception {
        StubPlan plan = planner.plan(process(), "ckpt-1", false);
        assertThat(plan.getFdsList()).extracting(f -> f.getFd()).containsExactly(3, 4);
        assertThat(plan.getFds(0).getOpenFlags()).as("never create, truncate or close on exec")
                .isEqualTo(LibC.O_RDWR);
        assertThat(plan.getFds(0).getOffset()).isEqualTo(1);
        assertThat(plan.getCwd()).isEqualTo(dir.toString());
        assertThat(plan.getUid()).isEqualTo(1000);
        assertThat(plan.getArgvList()).containsExactly("/bin/app");
        assertThat(plan.getCheckpointId()).isEqualTo("ckpt-1");
    }

    @Test
    void envFileIsReadAgainOnThisHostAndMustStillDefineTheRecordedNames() throws Exception {
        Path envFile = Files.writeString(dir.resolve("app.env"), "DB_PASSWORD=now\nNEW_ONE=1\n");
        Files.setPosixFilePermissions(envFile, java.nio.file.attribute.PosixFilePermissions.fromString("rw-------"));
        Files.setAttribute(envFile, "unix:uid", 1000);
        UnaryOperator<ProcessRecord.Builder> withEnvFile = p -> p.setRestart(p.getRestart().toBuilder()
                .setEnvFile(envFile.toString()).addEnvFileNames("DB_PASSWORD"));
        StubPlan plan = planner.plan(withEnvFile.apply(process().toBuilder()).build(), "ckpt-1", false);
        assertThat(plan.getEnvMap()).containsEntry("DB_PASSWORD", "now").containsEntry("NEW_ONE", "1")
                .containsEntry("HOME", "/home/app");

        assertRefused(p -> withEnvFile.apply(p).setRestart(p.getRestart().toBuilder().addEnvFileNames("GONE")),
                "env file " + envFile + " no longer defines GONE");
        Files.delete(envFile);
        assertRefused(withEnvFile, "env file " + envFile + ": no such file (on this host)");
        assertRefused(p -> p.setRestart(p.getRestart().toBuilder().setEnvFile("app.env")), "env file", "not absolute");
    }

    private void assertRefused(UnaryOperator<ProcessRecord.Builder> hostile, String... messageParts)
            throws IOException {
        ProcessRecord record = hostile.apply(process().toBuilder()).build();
        assertThatThrownBy(() -> planner.plan(record, "ckpt-1", false))
                .isInstanceOf(PlanRefusedException.class)
                .hasMessageContaining("process 77")
                .hasMessageContainingAll(messageParts);
    }

    @Test
    void refusesAProcessWithoutRestartSpecSayingHowToFixIt() throws Exception {
        assertRefused(ProcessRecord.Builder::clearRestart, "has no restart spec", "start that program through `agent run`",
                "let its parent `exec` it", "--skip-unrestartable");
    }

    @Test
    void refusesFdNumbersOutOfRange() throws Exception {
        assertRefused(p -> p.setFds(1, p.getFds(1).toBuilder().setFd(-1)), "fd -1", "out of range");
        assertRefused(p -> p.setFds(1, p.getFds(1).toBuilder().setFd(65536)), "fd 65536", "out of range");
        assertRefused(p -> p.setFds(1, p.getFds(1).toBuilder().setFd(Integer.MIN_VALUE)), "fd -2147483648", "out of range");
        assertRefused(p -> p.setFds(1, p.getFds(1).toBuilder().setFd(Integer.MAX_VALUE)), "fd 2147483647", "out of range");
        assertRefused(p -> p.setFds(1, p.getFds(1).toBuilder().setFd(1024)), "fd 1024", "out of range 0..1023");
        assertRefused(p -> p.setFds(2, p.getFds(2).toBuilder().setFd(3)), "fd 3", "recorded twice");
    }

    @Test
    void refusesRelativeAndDotDotPaths() throws Exception {
        assertRefused(p -> p.setFds(1, p.getFds(1).toBuilder().setPath("data")), "not absolute");
        assertRefused(p -> p.setFds(1, p.getFds(1).toBuilder().setPath(dir + "/../../etc/shadow")), "'..'");
        assertRefused(p -> p.setCwd("/tmp/../root"), "cwd", "'..'");
        PathResolver escaping = fd -> Optional.of("/srv/../etc/passwd");
        ProcessRecord record = process();
        assertThatThrownBy(() -> new StubPlanner(escaping, 1024).plan(record, "c", false))
                .isInstanceOf(PlanRefusedException.class).hasMessageContaining("'..'");
    }

    @Test
    void refusesFilesNotOnThisHostOrOfTheWrongType() throws Exception {
        assertRefused(p -> p.setFds(1, p.getFds(1).toBuilder().setPath(dir + "/nope")), "fd 3", "not found");
        assertRefused(p -> p.setFds(2, p.getFds(2).toBuilder().setKind(FdKind.FD_REGULAR)), "fd 4",
                "not a regular file");
    }

    @Test
    void refusesBadLocks() throws Exception {
        assertRefused(p -> p.setLocks(0, p.getLocks(0).toBuilder().setKind(LockKind.LOCK_KIND_UNSPECIFIED)),
                "cannot be restored");
        assertRefused(p -> p.setLocks(0, p.getLocks(0).toBuilder().setKindValue(42)), "cannot be restored");
        assertRefused(p -> p.setLocks(0, p.getLocks(0).toBuilder().setKind(LockKind.LEASE)), "LEASE");
        assertRefused(p -> p.setLocks(0, p.getLocks(0).toBuilder().setStart(-5)), "invalid range");
        assertRefused(p -> p.setLocks(0, p.getLocks(0).toBuilder().setStart(10).setEnd(5)), "invalid range");
        assertRefused(p -> p.setLocks(0, p.getLocks(0).toBuilder().setEnd(-2)), "invalid range");
        assertRefused(p -> p.setLocks(0, p.getLocks(0).toBuilder().setType(LockType.LOCK_TYPE_UNSPECIFIED)),
                "neither READ nor WRITE");
        assertRefused(p -> p.setLocks(0, p.getLocks(0).toBuilder().setFd(5)), "fd 5 is not a restored file");
    }

    @Test
    void refusesRootWithoutPermissionAndMissingRestartSpecs() throws Exception {
        assertRefused(p -> p.setRestart(p.getRestart().toBuilder().setUid(0)), "uid 0", "allow-root");
        assertRefused(p -> p.setRestart(p.getRestart().toBuilder().setUid(-1)), "4294967295");
        assertRefused(ProcessRecord.Builder::clearRestart, "no restart spec");
        assertRefused(p -> p.setRestart(p.getRestart().toBuilder().clearArgv()), "empty restart command");
        assertRefused(p -> p.setRestart(p.getRestart().toBuilder().putEnv("A=B", "c")), "environment");
        assertRefused(p -> p.setRestart(p.getRestart().toBuilder().addArgv("a\0b")), "NUL");

        ProcessRecord root = process().toBuilder().setRestart(process().getRestart().toBuilder().setUid(0)).build();
        assertThat(planner.plan(root, "ckpt-1", true).getUid()).as("root when allowed").isZero();
    }
}
