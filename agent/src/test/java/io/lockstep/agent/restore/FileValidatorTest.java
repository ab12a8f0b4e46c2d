package io.lockstep.agent.restore;

import static org.assertj.core.api.Assertions.assertThat;

import io.lockstep.proto.FdKind;
import io.lockstep.proto.FdRecord;
import io.lockstep.proto.FileIdentity;
import io.lockstep.proto.FileProblem;
import io.lockstep.proto.IdentityKind;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Optional;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class FileValidatorTest {
    private static final PathResolver OLD_PATH = fd -> Optional.of(fd.getPath()).filter(p -> Files.exists(Path.of(p)));

    @TempDir
    Path dir;

    private final FileValidator validator = new FileValidator(OLD_PATH);

    private static FdRecord recorded(Path file) throws Exception {
        return FdRecord.newBuilder().setFd(3).setKind(FdKind.FD_REGULAR).setPath(file.toString())
                .setSize(Files.size(file))
                .setMtimeNs(Files.getLastModifiedTime(file).to(TimeUnit.NANOSECONDS))
                .setIdentity(FileIdentity.newBuilder().setKind(IdentityKind.NETWORK).setSource("nfs1:/export")
                        .setRelativePath("app/" + file.getFileName()))
                .build();
    }

    @Test
    void unchangedFilesAndDirectoriesPass() throws Exception {
        FdRecord file = recorded(Files.writeString(dir.resolve("same"), "abc"));
        FdRecord directory = FdRecord.newBuilder().setFd(4).setKind(FdKind.FD_DIRECTORY).setPath(dir.toString())
                .build();
        FdRecord pipe = FdRecord.newBuilder().setFd(5).setKind(FdKind.FD_PIPE).setPath("pipe:[1]").build();
        assertThat(validator.validate(List.of(file, directory, pipe), false)).isEmpty();
    }

    @Test
    void missingFileIsFatalEvenWithForce() throws Exception {
        Path file = Files.writeString(dir.resolve("gone"), "abc");
        FdRecord record = recorded(file);
        Files.delete(file);
        List<FileProblem> problems = validator.validate(List.of(record, record.toBuilder().setFd(9).build()), true);
        assertThat(problems).singleElement().satisfies(p -> {
            assertThat(p.getFatal()).isTrue();
            assertThat(p.getProblem()).startsWith("missing");
            assertThat(p.getIdentity()).isEqualTo("nfs1:/export//app/gone");
            assertThat(p.getPath()).isEqualTo(file.toString());
        });
    }

    @Test
    void sizeDriftIsFatalWithoutForceAndAcceptedWithIt() throws Exception {
        Path file = Files.writeString(dir.resolve("grew"), "abc");
        FdRecord record = recorded(file).toBuilder().setSize(2).build();

        assertThat(validator.validate(List.of(record), false)).singleElement().satisfies(p -> {
            assertThat(p.getProblem()).isEqualTo("size drift: 2 bytes → 3 bytes");
            assertThat(p.getFatal()).isTrue();
        });
        assertThat(validator.validate(List.of(record), true)).singleElement()
                .satisfies(p -> assertThat(p.getFatal()).isFalse());
    }

    @Test
    void aLocalFileOfAnotherHostSaysWhoseItIsAndHowToProceed() throws Exception {
        FdRecord local = recorded(Files.writeString(dir.resolve("local"), "abc")).toBuilder()
                .setIdentity(FileIdentity.newBuilder().setKind(IdentityKind.LOCAL).setHostId("hostA").setFsType("ext4")
                        .setDevice("8:1").setRelativePath("/var/app/local"))
                .build();
        FileValidator elsewhere = new FileValidator(fd -> Optional.empty());

        assertThat(elsewhere.validate(List.of(local), true)).singleElement().satisfies(p -> {
            assertThat(p.getProblem()).startsWith("local file of host hostA").contains("restore this process on hostA",
                    "--network-fs", "--path-map").doesNotContain("not found");
            assertThat(p.getFatal()).isTrue();
        });
    }

    /** What the stub will open as the program's uid, checked as that uid: a root-owned 0600 file is refused here. */
    @Test
    void aFileTheProgramsUidCannotOpenIsRefusedAtValidation() throws Exception {
        Path log = Files.writeString(dir.resolve("out.log"), "abc");
        Files.setPosixFilePermissions(log, java.nio.file.attribute.PosixFilePermissions.fromString("rw-------"));
        Files.setPosixFilePermissions(dir, java.nio.file.attribute.PosixFilePermissions.fromString("rwxr-xr-x"));
        FdRecord writeOnly = recorded(log).toBuilder().setFd(1).setOpenFlags(01 | 02000).build();
        io.lockstep.proto.Manifest manifest = io.lockstep.proto.Manifest.newBuilder().setHostId("h1")
                .addProcesses(io.lockstep.proto.ProcessRecord.newBuilder().setPid(42).setUid(65534).setGid(65534)
                        .setRestart(io.lockstep.proto.RestartSpec.newBuilder().addArgv("prog").setUid(65534).setGid(65534))
                        .addFds(writeOnly))
                .build();

        assertThat(validator.validate(manifest, true)).singleElement().satisfies(p -> {
            assertThat(p.getProblem()).contains("fd 1 of pid 42 is opened for writing as uid 65534 gid 65534",
                    "may not (owner 0, group 0, mode 0600)");
            assertThat(p.getFatal()).isTrue();
        });
        Files.setPosixFilePermissions(log, java.nio.file.attribute.PosixFilePermissions.fromString("rw-rw-rw-"));
        assertThat(validator.validate(manifest, true)).isEmpty();
    }

    @Test
    void mtimeDriftAndTypeChange() throws Exception {
        Path file = Files.writeString(dir.resolve("touched"), "abc");
        FdRecord record = recorded(file).toBuilder().setMtimeNs(1).build();
        assertThat(validator.validate(List.of(record), false)).singleElement()
                .satisfies(p -> assertThat(p.getProblem()).startsWith("mtime drift: 1970-01-01 00:00:00.000Z → 20"));
        long now = Files.getLastModifiedTime(file).to(TimeUnit.NANOSECONDS);
        FdRecord earlier = recorded(file).toBuilder().setMtimeNs(now - 84_777_000_000L).build();
        assertThat(validator.validate(List.of(earlier), false)).singleElement().satisfies(p -> assertThat(p.getProblem())
                .matches("mtime drift: \\d\\d:\\d\\d:\\d\\d\\.\\d{3} → \\d\\d:\\d\\d:\\d\\d\\.\\d{3}")
                .doesNotContain(" ns"));

        FdRecord nowADirectory = recorded(file).toBuilder().setPath(dir.toString()).build();
        assertThat(validator.validate(List.of(nowADirectory), true)).singleElement().satisfies(p -> {
            assertThat(p.getProblem()).contains("recorded as a regular file, is now a directory");
            assertThat(p.getFatal()).isTrue();
        });
    }
}
