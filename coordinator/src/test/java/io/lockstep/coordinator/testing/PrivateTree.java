package io.lockstep.coordinator.testing;

import io.lockstep.files.PrivateFiles;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.stream.Stream;

import static org.assertj.core.api.Assertions.assertThat;

/** Checks on what Lockstep wrote: owner-only modes, unreadable by another user, no secret inside. */
public final class PrivateTree {
    /** The unprivileged user the checks read as (nobody). */
    private static final String NOBODY = "65534";

    private PrivateTree() {
    }

    /** Every file and directory under {@code root} (itself included). */
    public static List<Path> walk(Path root) throws IOException {
        try (Stream<Path> paths = Files.walk(root)) {
            return paths.toList();
        }
    }

    /** Every regular file is 0600 and every directory 0700, {@code root} included. */
    public static void assertOwnerOnly(Path root) throws IOException {
        for (Path path : walk(root)) {
            String mode = PrivateFiles.octal(Files.getPosixFilePermissions(path, LinkOption.NOFOLLOW_LINKS));
            if (Files.isDirectory(path, LinkOption.NOFOLLOW_LINKS)) {
                assertThat(mode).as("mode of directory " + path).isEqualTo("0700");
            } else if (path.getFileName().toString().startsWith("lockstep-stub-")
                    || path.getFileName().toString().startsWith("lockstep-guard-")) {
                // The agent's copies of its native helpers (restore stub, freeze guard): programs without
                // data, which the stub's dropped uid must be able to run; their directory is owner-only.
                assertThat(mode).as("mode of the native helper binary " + path).isEqualTo("0555");
            } else {
                assertThat(mode).as("mode of file " + path).isEqualTo("0600");
            }
        }
    }

    /** Reads each file as uid/gid 65534 (setpriv): every read must be refused. */
    public static void assertUnreadableByAnotherUser(List<Path> files) throws IOException, InterruptedException {
        assertThat(files).as("files to try").isNotEmpty();
        List<String> command = new ArrayList<>(List.of("setpriv", "--reuid", NOBODY, "--regid", NOBODY, "--clear-groups",
                "--", "cat"));
        files.forEach(file -> command.add(file.toString()));
        Process cat = new ProcessBuilder(command).redirectInput(ProcessBuilder.Redirect.from(new java.io.File("/dev/null")))
                .start();
        byte[] out = cat.getInputStream().readAllBytes();
        String err = new String(cat.getErrorStream().readAllBytes(), StandardCharsets.UTF_8);
        assertThat(cat.waitFor(60, TimeUnit.SECONDS)).as("setpriv cat ends").isTrue();
        assertThat(new String(out, StandardCharsets.UTF_8)).as("what uid 65534 could read of " + files).isEmpty();
        assertThat(err.lines().filter(line -> line.contains("Permission denied")).count())
                .as("refused reads of uid 65534 (stderr: " + err + ")").isEqualTo(files.size());
    }

    /** No file under the roots contains {@code secret}. */
    public static void assertNowhere(String secret, Path... roots) throws IOException {
        byte[] needle = secret.getBytes(StandardCharsets.UTF_8);
        for (Path root : roots) {
            for (Path path : walk(root)) {
                if (Files.isRegularFile(path, LinkOption.NOFOLLOW_LINKS)) {
                    assertThat(indexOf(Files.readAllBytes(path), needle)).as(path + " contains the secret").isNegative();
                }
            }
        }
    }

    public static int indexOf(byte[] haystack, byte[] needle) {
        outer:
        for (int i = 0; i + needle.length <= haystack.length; i++) {
            for (int j = 0; j < needle.length; j++) {
                if (haystack[i + j] != needle[j]) {
                    continue outer;
                }
            }
            return i;
        }
        return -1;
    }
}
