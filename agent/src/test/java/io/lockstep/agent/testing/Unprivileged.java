package io.lockstep.agent.testing;

import java.io.File;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.UUID;
import java.util.concurrent.TimeUnit;
import java.util.stream.Stream;

/**
 * Runs a Java main class as another user, a real process: {@code setpriv --reuid UID --regid GID
 * --clear-groups java …}. The test's class path lives under /root (mode 0700 here), which
 * that user cannot read, so it is linked (or copied) into a world-readable directory first.
 * {@link #close} removes that directory.
 */
public final class Unprivileged implements AutoCloseable {
    /** What the process printed, and how it ended. */
    public record Result(int exit, String out, String err) {
    }

    private final Path dir;
    private final String classPath;

    public Unprivileged() throws IOException {
        dir = Files.createDirectories(Path.of("/tmp", "lockstep-cp-" + UUID.randomUUID()));
        Files.setPosixFilePermissions(dir, PosixFilePermissions.fromString("rwxr-xr-x"));
        List<String> entries = new ArrayList<>();
        int index = 0;
        for (String entry : System.getProperty("java.class.path").split(File.pathSeparator)) {
            Path source = Path.of(entry);
            if (!Files.exists(source)) {
                continue;
            }
            Path target = dir.resolve(index++ + "-" + source.getFileName());
            copy(source, target);
            entries.add(target.toString());
        }
        classPath = String.join(File.pathSeparator, entries);
    }

    private static void copy(Path source, Path target) throws IOException {
        try (Stream<Path> files = Files.walk(source)) {
            for (Path file : (Iterable<Path>) files::iterator) {
                Path to = target.resolve(source.relativize(file).toString());
                if (Files.isDirectory(file)) {
                    Files.createDirectories(to);
                    Files.setPosixFilePermissions(to, PosixFilePermissions.fromString("rwxr-xr-x"));
                } else {
                    // A hard link shares the original's mode: only one the others may read already will do.
                    if (!Files.getPosixFilePermissions(file).contains(java.nio.file.attribute.PosixFilePermission.OTHERS_READ)
                            || !link(file, to)) {
                        Files.copy(file, to);
                        Files.setPosixFilePermissions(to, PosixFilePermissions.fromString("rw-r--r--"));
                    }
                }
            }
        }
    }

    private static boolean link(Path file, Path to) {
        try {
            Files.createLink(to, file);
            return true;
        } catch (IOException | UnsupportedOperationException notLinkable) {
            return false;
        }
    }

    /** Runs {@code mainClass args} as uid/gid with no supplementary groups; waits for it (at most 120 s). */
    public Result run(int uid, int gid, String mainClass, String... args) throws IOException, InterruptedException {
        List<String> command = new ArrayList<>(List.of("setpriv", "--reuid=" + uid, "--regid=" + gid, "--clear-groups", "--",
                Path.of(System.getProperty("java.home"), "bin", "java").toString(), "-Xmx96m", "-XX:TieredStopAtLevel=1",
                "-Xshare:auto", "-cp", classPath, mainClass));
        command.addAll(List.of(args));
        Path out = Files.createTempFile("unprivileged-out", ".txt");
        Path err = Files.createTempFile("unprivileged-err", ".txt");
        try {
            Process process = new ProcessBuilder(command).directory(new File("/")).redirectOutput(out.toFile())
                    .redirectError(err.toFile()).start();
            if (!process.waitFor(120, TimeUnit.SECONDS)) {
                process.destroyForcibly().waitFor();
                throw new AssertionError("as uid " + uid + ": " + mainClass + " did not end within 120 s; stderr: "
                        + Files.readString(err, StandardCharsets.UTF_8));
            }
            return new Result(process.exitValue(), Files.readString(out, StandardCharsets.UTF_8), Files.readString(err, StandardCharsets.UTF_8));
        } finally {
            Files.deleteIfExists(out);
            Files.deleteIfExists(err);
        }
    }

    @Override
    public void close() throws IOException {
        try (Stream<Path> files = Files.walk(dir)) {
            files.sorted(Comparator.reverseOrder()).forEach(path -> path.toFile().delete());
        }
    }
}
