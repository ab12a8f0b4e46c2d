package io.lockstep.agent.server;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assumptions.assumeThat;

import com.google.protobuf.ByteString;
import io.lockstep.agent.nativeio.Native;
import io.lockstep.agent.nativeio.NativeException;
import io.lockstep.agent.proc.MountTable;
import io.lockstep.agent.proc.ResolverTable;
import io.lockstep.agent.proc.ServerNames;
import io.lockstep.agent.restore.FileHandles;
import io.lockstep.agent.restore.FileValidator;
import io.lockstep.agent.restore.PathResolver;
import io.lockstep.proto.FdKind;
import io.lockstep.proto.FdRecord;
import io.lockstep.proto.FileIdentity;
import io.lockstep.proto.IdentityKind;
import io.lockstep.proto.Manifest;
import io.lockstep.proto.MatchRule;
import io.lockstep.proto.ProcessRecord;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.attribute.FileTime;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * File handles at restore, on real files (the temporary directory's file system gives handles):
 * a file replaced at its path is caught although size and mtime match, and a mount of a server
 * no rule ties to the recorded one serves when the file there has the recorded handle. The
 * temporary directory stands for the export; its mount is described by an nfs4 mountinfo line.
 */
class FileHandleValidationTest {
    private static final ServerNames NAMES = ResolverTable.names(Map.of());

    @TempDir
    Path export;
    private Path file;

    @BeforeEach
    void createFile() throws Exception {
        file = Files.writeString(Files.createDirectories(export.resolve("app")).resolve("db"), "rows");
        assumeThat(Native.nameToHandle(file.toString())).as("the test file system gives file handles").isNotNull();
    }

    private MountTable mountedAs(String source) {
        return MountTable.parse(List.of("22 1 253:0 / / rw - ext4 /dev/root rw",
                "70 22 0:80 / " + export + " rw,relatime - nfs4 " + source + " rw,vers=4.2,hard,proto=tcp"));
    }

    private FileValidator validatorOn(String source, FileHandles handles) {
        return new FileValidator(new IdentityPathResolver(mountedAs(source), "host-b", List.of(), NAMES, handles),
                handles);
    }

    /** The record a capture makes of the file as it is now, on server {@code server}. */
    private FdRecord recorded(String server) throws Exception {
        Native.FileHandle handle = Native.nameToHandle(file.toString());
        return FdRecord.newBuilder().setFd(3).setKind(FdKind.FD_REGULAR).setPath("/mnt/a/app/db")
                .setSize(Files.size(file)).setMtimeNs(Files.getLastModifiedTime(file).to(TimeUnit.NANOSECONDS))
                .setIdentity(FileIdentity.newBuilder().setKind(IdentityKind.NETWORK).setFsType("nfs4")
                        .setSource(server + ":/export").setServer(server).setRelativePath("app/db")
                        .setFileHandle(ByteString.copyFrom(handle.bytes())).setHandleType(handle.type()))
                .build();
    }

    private static Manifest manifestOf(FdRecord fd) {
        return Manifest.newBuilder().setHostId("host-a")
                .addProcesses(ProcessRecord.newBuilder().setPid(100).addFds(fd)).build();
    }

    /** Puts another file at the same path, with the same content and mtime: only its handle differs. */
    private void replaceKeepingSizeAndMtime() throws Exception {
        FileTime mtime = Files.getLastModifiedTime(file);
        Path other = Files.writeString(export.resolve("app").resolve("db.new"), Files.readString(file));
        Files.setLastModifiedTime(other, mtime);
        Files.move(other, file, StandardCopyOption.REPLACE_EXISTING, StandardCopyOption.ATOMIC_MOVE);
    }

    @Test
    void theRecordedFileAtItsPathPassesAndTheReportSaysHowItsServerMatched() throws Exception {
        FileValidator.Report report = validatorOn("NFS1:/export", FileHandles.NATIVE)
                .check(manifestOf(recorded("nfs1")), false);
        assertThat(report.problems()).isEmpty();
        assertThat(report.matches()).singleElement().satisfies(m -> {
            assertThat(m.getRule()).isEqualTo(MatchRule.SAME_NAME);
            assertThat(m.getRecorded()).isEqualTo("nfs1:/export");
            assertThat(m.getLocal()).isEqualTo("NFS1:/export");
        });
    }

    @Test
    void aFileReplacedAtItsPathWithTheSameSizeAndMtimeIsCaughtByItsHandle() throws Exception {
        FdRecord fd = recorded("nfs1");
        replaceKeepingSizeAndMtime();
        assertThat(Files.size(file)).isEqualTo(fd.getSize());
        FileValidator validator = validatorOn("nfs1:/export", FileHandles.NATIVE);

        assertThat(validator.validate(manifestOf(fd), false)).singleElement().satisfies(p -> {
            assertThat(p.getFatal()).isTrue();
            assertThat(p.getPath()).isEqualTo(file.toString());
            assertThat(p.getIdentity()).isEqualTo("nfs1:/export//app/db");
            assertThat(p.getProblem()).startsWith("replaced: " + file + " is not the file recorded (file handle type ");
        });
        assertThat(validator.validate(manifestOf(fd), true)).singleElement()
                .satisfies(p -> assertThat(p.getFatal()).as("accepted with --force").isFalse());
    }

    @Test
    void aFileSystemThatGivesNoHandleHereIsNotCompared() throws Exception {
        FdRecord fd = recorded("nfs1");
        replaceKeepingSizeAndMtime();
        assertThat(validatorOn("nfs1:/export", path -> Optional.empty()).validate(manifestOf(fd), false)).isEmpty();
    }

    @Test
    void aHandleThatCannotBeTakenIsReportedNamingTheCallAndAccepted() throws Exception {
        FileHandles stale = path -> {
            throw new NativeException("name_to_handle_at", path.toString(), 116, "Stale file handle");
        };
        assertThat(validatorOn("nfs1:/export", stale).validate(manifestOf(recorded("nfs1")), false)).singleElement()
                .satisfies(p -> {
                    assertThat(p.getFatal()).isFalse();
                    assertThat(p.getProblem()).isEqualTo("file handle not compared: name_to_handle_at(" + file
                            + ") failed: Stale file handle (errno 116)");
                });
    }

    @Test
    void aServerNoRuleTiesServesWhenTheFileThereHasTheRecordedHandle() throws Exception {
        FileValidator.Report report = validatorOn("filer-b:/export", FileHandles.NATIVE)
                .check(manifestOf(recorded("filer-a")), false);
        assertThat(report.problems()).isEmpty();
        assertThat(report.matches()).singleElement().satisfies(m -> {
            assertThat(m.getRule()).isEqualTo(MatchRule.FILE_HANDLE);
            assertThat(m.getRecorded()).isEqualTo("filer-a:/export");
            assertThat(m.getLocal()).isEqualTo("filer-b:/export");
            assertThat(m.getDetail()).isEqualTo(file + " has the recorded file handle");
        });
    }

    @Test
    void aServerNoRuleTiesDoesNotServeAnotherFileAtThePath() throws Exception {
        FdRecord fd = recorded("filer-a");
        replaceKeepingSizeAndMtime();
        FileValidator.Report report = validatorOn("filer-b:/export", FileHandles.NATIVE).check(manifestOf(fd), true);
        assertThat(report.matches()).isEmpty();
        assertThat(report.problems()).singleElement().satisfies(p -> {
            assertThat(p.getFatal()).as("missing is fatal even with --force").isTrue();
            assertThat(p.getProblem()).startsWith("missing: no network mount here reaches filer-a:/export/app/db;")
                    .contains("recorded server filer-a resolved to nothing on the recording host and to nothing here")
                    .contains("filer-b:/export on " + export + ": another server: filer-b (resolves to nothing)");
        });
    }
}
