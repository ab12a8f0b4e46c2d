package io.lockstep.files;

import jnr.ffi.LibraryLoader;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;

import static org.assertj.core.api.Assertions.assertThat;

class PrivateFilesTest {
    private static final PrivateFiles.LibC LIBC = LibraryLoader.create(PrivateFiles.LibC.class).load("c");

    @TempDir
    Path dir;

    @Test
    void createdOwnerOnlyEvenUnderUmask000() throws Exception {
        int previous = LIBC.umask(0);
        try {
            Path nested = PrivateFiles.createDirectories(dir.resolve("a/b"));
            PrivateFiles.writeAtomically(nested.resolve("spec"), new byte[] {1, 2}, true);
            Files.writeString(nested.resolve("old.tmp"), "x");
            Files.setPosixFilePermissions(nested.resolve("old.tmp"), PosixFilePermissions.fromString("rw-rw-rw-"));
            try (FileChannel ignored = PrivateFiles.createForWrite(nested.resolve("old.tmp"))) {
                // replaced, not reopened with its old mode
            }
            Path log = PrivateFiles.createFileIfAbsent(nested.resolve("log"));

            assertThat(mode(dir.resolve("a"))).isEqualTo("0700");
            assertThat(mode(nested)).isEqualTo("0700");
            assertThat(mode(nested.resolve("spec"))).isEqualTo("0600");
            assertThat(Files.readAllBytes(nested.resolve("spec"))).containsExactly(1, 2);
            assertThat(mode(nested.resolve("old.tmp"))).isEqualTo("0600");
            assertThat(mode(log)).isEqualTo("0600");
        } finally {
            LIBC.umask(previous);
        }
    }

    @Test
    void ownDirectoryNarrowsAnExistingOpenOne() throws Exception {
        Path state = Files.createDirectory(dir.resolve("state"));
        Files.setPosixFilePermissions(state, PosixFilePermissions.fromString("rwxr-xr-x"));
        PrivateFiles.ownDirectory(state);
        assertThat(mode(state)).isEqualTo("0700");
    }

    private static String mode(Path path) throws Exception {
        return PrivateFiles.octal(Files.getPosixFilePermissions(path));
    }
}
