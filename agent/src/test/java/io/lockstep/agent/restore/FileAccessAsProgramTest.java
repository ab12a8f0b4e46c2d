package io.lockstep.agent.restore;

import io.lockstep.proto.FdKind;
import io.lockstep.proto.FdRecord;
import io.lockstep.proto.FileProblem;
import io.lockstep.proto.Manifest;
import io.lockstep.proto.ProcessRecord;
import io.lockstep.proto.RestartSpec;
import jnr.ffi.LibraryLoader;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;
import java.util.concurrent.TimeUnit;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * Validation checks each file as the restored program will open it: the stub drops to the
 * program's uid and gid with no supplementary group, and the kernel applies POSIX ACLs. Each
 * verdict is compared with the kernel's own, for a real process with exactly those credentials.
 */
class FileAccessAsProgramTest {
    private static final int UID = 4242;
    private static final int GID = 4242;
    private static final int SUPPLEMENTARY_GID = 4243;

    @TempDir
    Path dir;

    /** Sets extended attributes (the ACL) as setfacl would; only this test writes them. */
    public interface Xattrs {
        int lsetxattr(String path, String name, byte[] value, long size, int flags);
    }

    private static final Xattrs XATTRS = LibraryLoader.create(Xattrs.class).load("c");

    private final FileValidator validator = new FileValidator(fd -> Optional.of(fd.getPath()).filter(p -> Files.exists(Path.of(p))));

    @Test
    void aFileReadableOnlyThroughASupplementaryGroupIsRefusedBecauseTheStubDropsThatGroup() throws Exception {
        Path file = data("group-only", "rw-r-----");
        Files.setAttribute(file, "unix:gid", SUPPLEMENTARY_GID);
        assertThat(kernelLetsRead(file, List.of("--groups=" + SUPPLEMENTARY_GID)))
                .as("the uid reads it through its supplementary group").isTrue();
        assertThat(kernelLetsRead(file, List.of("--clear-groups"))).as("as the stub runs it, without the group").isFalse();

        assertThat(validator.validate(readingManifest(file), true)).singleElement().satisfies(p -> {
            assertThat(p.getProblem()).contains("fd 3 of pid 42 is opened for reading as uid " + UID + " gid " + GID
                    + " (a restored program has no supplementary groups)", "owner 0, group " + SUPPLEMENTARY_GID + ", mode 0640");
            assertThat(p.getFatal()).isTrue();
        });
        Files.setAttribute(file, "unix:gid", GID);
        assertThat(kernelLetsRead(file, List.of("--clear-groups"))).as("through its primary group").isTrue();
        assertThat(validator.validate(readingManifest(file), true)).isEmpty();
    }

    @Test
    void anAclEntryForTheUidGrantsWhatTheModeBitsDeny() throws Exception {
        Path file = data("acl-granted", "rw-------");
        setAcl(file, entry(PosixAcl.USER_OBJ, 6, -1), entry(PosixAcl.USER, 4, UID), entry(PosixAcl.GROUP_OBJ, 0, -1),
                entry(PosixAcl.MASK, 4, -1), entry(PosixAcl.OTHER, 0, -1));
        assertThat(kernelLetsRead(file, List.of("--clear-groups"))).as("the kernel, through the ACL").isTrue();

        assertThat(validator.validate(readingManifest(file), true)).isEmpty();
    }

    @Test
    void anAclEntryForTheUidDeniesWhatOthersMayAndIsNamedInTheProblem() throws Exception {
        Path file = data("acl-denied", "rw-r--r--");
        setAcl(file, entry(PosixAcl.USER_OBJ, 6, -1), entry(PosixAcl.USER, 0, UID), entry(PosixAcl.GROUP_OBJ, 4, -1),
                entry(PosixAcl.MASK, 4, -1), entry(PosixAcl.OTHER, 4, -1));
        assertThat(kernelLetsRead(file, List.of("--clear-groups"))).as("the kernel, through the ACL").isFalse();

        List<FileProblem> problems = validator.validate(readingManifest(file), true);
        assertThat(problems).singleElement().satisfies(p -> {
            assertThat(p.getProblem()).contains("may not (owner 0, group 0, mode 0644, ACL user::rw-,user:" + UID
                    + ":---,group::r--,mask::r--,other::r--)");
            assertThat(p.getFatal()).isTrue();
        });
    }

    /** A file in a directory everyone may search, with these mode bits, owned by root. */
    private Path data(String name, String mode) throws IOException {
        Files.setPosixFilePermissions(dir, PosixFilePermissions.fromString("rwxr-xr-x"));
        Path file = Files.writeString(dir.resolve(name), "data");
        Files.setPosixFilePermissions(file, PosixFilePermissions.fromString(mode));
        return file;
    }

    /** A program of uid:gid that had the file open for reading as fd 3. */
    private static Manifest readingManifest(Path file) throws IOException {
        FdRecord fd = FdRecord.newBuilder().setFd(3).setKind(FdKind.FD_REGULAR).setPath(file.toString())
                .setSize(Files.size(file)).setMtimeNs(Files.getLastModifiedTime(file).to(TimeUnit.NANOSECONDS))
                .setOpenFlags(0).build();
        return Manifest.newBuilder().setHostId("h1").addProcesses(ProcessRecord.newBuilder().setPid(42).setUid(UID)
                .setGid(GID).setRestart(RestartSpec.newBuilder().addArgv("prog").setUid(UID).setGid(GID)).addFds(fd))
                .build();
    }

    /** Whether a process of uid:gid with these group options (setpriv) can open the file for reading. */
    private static boolean kernelLetsRead(Path file, List<String> groups) throws Exception {
        List<String> command = new ArrayList<>(List.of("setpriv", "--reuid=" + UID, "--regid=" + GID));
        command.addAll(groups);
        command.addAll(List.of("--", "cat", file.toString()));
        Process cat = new ProcessBuilder(command).redirectErrorStream(true).start();
        cat.getInputStream().readAllBytes();
        assertThat(cat.waitFor(30, TimeUnit.SECONDS)).as("%s ends", command).isTrue();
        return cat.exitValue() == 0;
    }

    private static int[] entry(int tag, int perm, int id) {
        return new int[]{tag, perm, id};
    }

    /** Writes system.posix_acl_access (version 2, then tag/perm/id per entry, little-endian). */
    private static void setAcl(Path file, int[]... entries) {
        ByteBuffer value = ByteBuffer.allocate(4 + 8 * entries.length).order(ByteOrder.LITTLE_ENDIAN).putInt(2);
        for (int[] e : entries) {
            value.putShort((short) e[0]).putShort((short) e[1]).putInt(e[2]);
        }
        byte[] bytes = value.array();
        assertThat(XATTRS.lsetxattr(file.toString(), PosixAcl.XATTR, bytes, bytes.length, 0))
                .as("setting the ACL of %s", file).isZero();
    }
}
