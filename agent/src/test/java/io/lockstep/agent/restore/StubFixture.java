package io.lockstep.agent.restore;

import static org.assertj.core.api.Assertions.assertThat;

import io.lockstep.proto.FdKind;
import io.lockstep.proto.LockKind;
import io.lockstep.proto.LockRecord;
import io.lockstep.proto.LockType;
import io.lockstep.proto.StubFd;
import io.lockstep.proto.StubPlan;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.stream.Stream;

/**
 * Real stubs for tests: a world-accessible temp directory (the stubs drop to nobody), a
 * launcher without a cgroup prefix, and cleanup of every process started, even on failure.
 */
final class StubFixture implements AutoCloseable {
    static final int NOBODY = 65534;
    static final Duration STEP = Duration.ofSeconds(30);

    final Path dir;
    final StubLauncher launcher;
    private final List<StubHandle> handles = new ArrayList<>();

    StubFixture() throws IOException {
        dir = Files.createTempDirectory(Path.of("/tmp"), "lsstub");
        Files.setPosixFilePermissions(dir, PosixFilePermissions.fromString("rwxrwxrwx"));
        launcher = new StubLauncher(StubBinary.installed(dir), dir.resolve("s"), List.of(), Optional.of(dir.resolve("stub.log")),
                dir.resolve("logs"));
    }

    static Instant deadline() {
        return Instant.now().plus(STEP);
    }

    /** A file nobody may read and write, with {@code size} bytes. */
    Path file(String name, int size) throws IOException {
        Path file = dir.resolve(name);
        Files.write(file, new byte[size]);
        Files.setPosixFilePermissions(file, PosixFilePermissions.fromString("rw-rw-rw-"));
        return file;
    }

    static StubFd fd(int number, Path path, int flags, long offset) {
        boolean directory = Files.isDirectory(path);
        return StubFd.newBuilder().setFd(number).setKind(directory ? FdKind.FD_DIRECTORY : FdKind.FD_REGULAR)
                .setPath(path.toString()).setOpenFlags(flags).setOffset(offset).build();
    }

    /** A plan for nobody whose restart command is {@code /bin/sh -c script}. */
    StubPlan plan(List<StubFd> fds, String script, Map<String, String> env) {
        return StubPlan.newBuilder().setOldPid(4242).addAllFds(fds).setCwd(dir.toString()).setUid(NOBODY)
                .setGid(NOBODY).addAllArgv(List.of("/bin/sh", "-c", script)).putAllEnv(env)
                .putEnv("PATH", "/usr/bin:/bin").setCheckpointId("ckpt-7").build();
    }

    StubHandle launch(StubPlan plan) throws StubException {
        StubHandle handle = launcher.launch(plan, deadline());
        handles.add(handle);
        return handle;
    }

    StubHandle staged(StubPlan plan) throws StubException {
        StubHandle handle = launch(plan);
        handle.stage(deadline());
        return handle;
    }

    static LockRecord lock(int fd, LockKind kind, LockType type, long start, long end) {
        return LockRecord.newBuilder().setFd(fd).setKind(kind).setType(type).setStart(start).setEnd(end).build();
    }

    static long inode(Path file) throws IOException {
        return (Long) Files.getAttribute(file, "unix:ino");
    }

    /** The granted /proc/locks entries on these files. */
    static List<ProcLocks.Entry> locksOn(Path... files) throws IOException {
        List<Long> inodes = new ArrayList<>();
        for (Path f : files) {
            inodes.add(inode(f));
        }
        return ProcLocks.read().stream().filter(e -> !e.waiting() && inodes.contains(e.inode())).toList();
    }

    static String fdinfo(long pid, int fd) throws IOException {
        return Files.readString(Path.of("/proc/" + pid + "/fdinfo/" + fd));
    }

    static long position(long pid, int fd) throws IOException {
        return fdinfo(pid, fd).lines().filter(l -> l.startsWith("pos:")).mapToLong(l -> Long.parseLong(
                l.substring(4).trim())).findFirst().orElseThrow();
    }

    static Path target(long pid, int fd) throws IOException {
        return Files.readSymbolicLink(Path.of("/proc/" + pid + "/fd/" + fd));
    }

    static List<Integer> openFds(long pid) throws IOException {
        try (Stream<Path> fds = Files.list(Path.of("/proc/" + pid + "/fd"))) {
            return fds.map(p -> Integer.parseInt(p.getFileName().toString())).sorted().toList();
        }
    }

    static void assertNoLocksOf(long pid, Path... files) throws IOException {
        assertThat(ProcLocks.read()).as("/proc/locks entries of pid %d", pid)
                .noneMatch(e -> e.pid() == pid && !e.kind().equals("OFDLCK"));
        assertThat(locksOn(files)).as("locks left on %s", List.of(files)).isEmpty();
    }

    @Override
    public void close() throws IOException {
        for (StubHandle handle : handles) {
            handle.close();
            handle.process().destroyForcibly();
            handle.process().onExit().join();
        }
        try (Stream<Path> all = Files.walk(dir)) {
            for (Path p : all.sorted(Comparator.reverseOrder()).toList()) {
                Files.deleteIfExists(p);
            }
        }
    }
}
