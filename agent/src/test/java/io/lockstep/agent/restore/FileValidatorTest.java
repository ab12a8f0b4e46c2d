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
    private static final PathResolver OLD_PATH = fd -> Optional.of(Path.of(fd.getPath())).filter(Files::exists);

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
            assertThat(p.getProblem()).contains("size drift").contains("recorded 2").contains("now 3");
            assertThat(p.getFatal()).isTrue();
        });
        assertThat(validator.validate(List.of(record), true)).singleElement()
                .satisfies(p -> assertThat(p.getFatal()).isFalse());
    }

    @Test
    void mtimeDriftAndTypeChange() throws Exception {
        Path file = Files.writeString(dir.resolve("touched"), "abc");
        FdRecord record = recorded(file).toBuilder().setMtimeNs(1).build();
        assertThat(validator.validate(List.of(record), false)).singleElement()
                .satisfies(p -> assertThat(p.getProblem()).contains("mtime drift"));

        FdRecord nowADirectory = recorded(file).toBuilder().setPath(dir.toString()).build();
        assertThat(validator.validate(List.of(nowADirectory), true)).singleElement().satisfies(p -> {
            assertThat(p.getProblem()).contains("recorded as a regular file, is now a directory");
            assertThat(p.getFatal()).isTrue();
        });
    }
}
