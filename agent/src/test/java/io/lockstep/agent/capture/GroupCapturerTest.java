package io.lockstep.agent.capture;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.tuple;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.awaitility.Awaitility.await;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import io.lockstep.agent.proc.LockEntry;
import io.lockstep.agent.proc.ProcLocks;
import io.lockstep.agent.testing.Child;
import io.lockstep.proto.FdKind;
import io.lockstep.proto.FdRecord;
import io.lockstep.proto.IdentityKind;
import io.lockstep.proto.LockKind;
import io.lockstep.proto.LockRecord;
import io.lockstep.proto.LockType;
import io.lockstep.proto.Manifest;
import io.lockstep.proto.ProcessRecord;
import io.lockstep.proto.RestartSpec;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.TimeUnit;
import java.util.stream.Collectors;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** Real child processes holding and waiting for real locks, captured without freezing. */
class GroupCapturerTest {
    @TempDir
    Path dir;
    private final List<Child> children = new ArrayList<>();
    private Path a;
    private Path b;
    private Path c;
    private Path d;

    @BeforeEach
    void files() throws IOException {
        a = Files.write(dir.resolve("a"), new byte[100]);
        b = Files.write(dir.resolve("b"), new byte[1000]);
        c = Files.write(dir.resolve("c"), new byte[10]);
        d = Files.write(dir.resolve("d"), new byte[10]);
    }

    @AfterEach
    void killChildren() throws InterruptedException {
        for (Child child : children) {
            child.kill();
        }
    }

    private Child start(String... commands) throws IOException {
        Child child = Child.start(commands);
        children.add(child);
        return child;
    }

    private static CaptureScope scope(List<Integer> pids, Map<Integer, RestartSpec> specs) {
        return new CaptureScope("g", "host-1", "op-1", 3, "cgroup-v2", false, pids, specs);
    }

    /** What a test compares of a lock: everything but identity and ordinal. */
    record Lock(int pid, LockKind kind, LockType type, long start, long end, int fd, boolean waiting, long inode) {
        static Lock of(LockRecord r) {
            return new Lock(r.getOwnerPid(), r.getKind(), r.getType(), r.getStart(), r.getEnd(), r.getFd(), r.getWaiting(), r.getInode());
        }
    }

    private static long inode(Path p) throws IOException {
        return (Long) Files.getAttribute(p, "unix:ino");
    }

    private static Set<Lock> locksOf(Manifest m) {
        return m.getProcessesList().stream().flatMap(p -> p.getLocksList().stream()).map(Lock::of).collect(Collectors.toSet());
    }

    private static ProcessRecord process(Manifest m, int pid) {
        return m.getProcessesList().stream().filter(p -> p.getPid() == pid).findFirst().orElseThrow();
    }

    private static List<LockEntry> procLocksOn(Set<Long> inodes) throws IOException {
        return ProcLocks.read().stream().filter(e -> inodes.contains(e.inode())).toList();
    }

    @Test
    void capturesHeldAndWaitedLocksOfEveryKindWithOwnerAndFd() throws Exception {
        Child holder1 = start("posix-write", a.toString(), "0", "10", "posix-read", b.toString(), "100", "50",
                "ofd-write", a.toString(), "20", "10", "flock-ex", c.toString());
        holder1.awaitLine("READY");
        Child holder2 = start("posix-read", b.toString(), "200", "0", "ofd-read", b.toString(), "0", "10",
                "flock-sh", d.toString());
        holder2.awaitLine("READY");
        Child waiter = start("posix-wait-write", a.toString(), "0", "10", "ofd-wait-write", a.toString(), "20", "10",
                "flock-wait-ex", c.toString());
        waiter.awaitLine("READY");
        long ia = inode(a);
        long ib = inode(b);
        long ic = inode(c);
        long id = inode(d);
        Set<Long> ours = Set.of(ia, ib, ic, id);
        await("three waiters of pid " + waiter.pid() + " in /proc/locks").atMost(Duration.ofSeconds(30))
                .until(() -> procLocksOn(ours).stream().filter(LockEntry::waiter).count() == 3);

        Manifest m = new GroupCapturer().capture(scope(List.of(holder1.pid(), holder2.pid(), waiter.pid()), Map.of()));

        int h1 = holder1.pid();
        int h2 = holder2.pid();
        int w = waiter.pid();
        assertThat(locksOf(m)).containsExactlyInAnyOrder(
                new Lock(h1, LockKind.POSIX, LockType.WRITE, 0, 9, holder1.fdOf("posix-write", 0), false, ia),
                new Lock(h1, LockKind.POSIX, LockType.READ, 100, 149, holder1.fdOf("posix-read", 0), false, ib),
                new Lock(h1, LockKind.OFD, LockType.WRITE, 20, 29, holder1.fdOf("ofd-write", 0), false, ia),
                new Lock(h1, LockKind.FLOCK, LockType.WRITE, 0, -1, holder1.fdOf("flock-ex", 0), false, ic),
                new Lock(h2, LockKind.POSIX, LockType.READ, 200, -1, holder2.fdOf("posix-read", 0), false, ib),
                new Lock(h2, LockKind.OFD, LockType.READ, 0, 9, holder2.fdOf("ofd-read", 0), false, ib),
                new Lock(h2, LockKind.FLOCK, LockType.READ, 0, -1, holder2.fdOf("flock-sh", 0), false, id),
                new Lock(w, LockKind.POSIX, LockType.WRITE, 0, 9, waiter.fdOf("posix-wait-write", 0), true, ia),
                new Lock(w, LockKind.OFD, LockType.WRITE, 20, 29, waiter.fdOf("ofd-wait-write", 0), true, ia),
                new Lock(w, LockKind.FLOCK, LockType.WRITE, 0, -1, waiter.fdOf("flock-wait-ex", 0), true, ic));

        // and that is exactly what the kernel shows for these files: same kinds, types, ranges, pids
        List<LockEntry> kernel = procLocksOn(ours);
        assertThat(kernel).hasSize(10);
        for (LockEntry e : kernel) {
            assertThat(locksOf(m)).as("captured %s", e).anyMatch(l -> l.inode() == e.inode() && l.waiting() == e.waiter()
                    && l.start() == e.start() && l.end() == e.end() && l.type().name().equals(e.type())
                    && (e.pid() == -1 || l.pid() == e.pid()));
        }
        List<LockRecord> all = m.getProcessesList().stream().flatMap(p -> p.getLocksList().stream()).toList();
        assertThat(all).allSatisfy(l -> {
            assertThat(l.getLockId()).as("/proc/locks ordinal of %s", l).isNotEmpty();
            assertThat(l.getIdentity().getKind()).isEqualTo(IdentityKind.LOCAL);
            assertThat(l.getIdentity().getHostId()).isEqualTo("host-1");
        });
        assertThat(all).filteredOn(l -> l.getInode() == ia).allSatisfy(l -> assertThat(l.getIdentity().getRelativePath()).isEqualTo(a.toString()));
        assertThat(m.getWarningsList()).noneMatch(wn -> wn.contains("unattributed"));
    }

    @Test
    void locksOfProcessesOutsideTheScopeAreIgnoredAndAnOrphanOfdWaiterIsAWarning() throws Exception {
        Child holder = start("posix-write", a.toString(), "0", "10", "ofd-write", a.toString(), "20", "10");
        holder.awaitLine("READY");
        Child outsider = start("posix-write", b.toString(), "0", "1", "posix-wait-write", a.toString(), "0", "10",
                "ofd-wait-write", a.toString(), "20", "10");
        outsider.awaitLine("READY");
        long ia = inode(a);
        await("two waiters on " + a).atMost(Duration.ofSeconds(30))
                .until(() -> procLocksOn(Set.of(ia)).stream().filter(LockEntry::waiter).count() == 2);

        Manifest m = new GroupCapturer().capture(scope(List.of(holder.pid()), Map.of()));

        assertThat(locksOf(m)).extracting(Lock::pid).containsOnly(holder.pid());
        assertThat(locksOf(m)).hasSize(2).noneMatch(Lock::waiting);
        assertThat(m.getWarningsList()).anyMatch(wn -> wn.startsWith("unattributed waiting OFDLCK WRITE lock on")
                && wn.contains(":" + ia + " [20, 29]"));
    }

    @Test
    void recordsProcessFactsFdsAndUnsupportedKindsWithWarnings() throws Exception {
        Path gone = dir.resolve("gone");
        Child child = start("posix-write", a.toString(), "5", "5", "open-deleted", gone.toString());
        child.awaitLine("READY");
        RestartSpec spec = RestartSpec.newBuilder().addArgv("/bin/app").setCwd("/").build();

        Manifest m = new GroupCapturer().capture(scope(List.of(child.pid()), Map.of(child.pid(), spec)));

        assertThat(m.getGroup()).isEqualTo("g");
        assertThat(m.getEpoch()).isEqualTo(3);
        assertThat(m.getCapturedAtUnixMs()).isPositive();
        ProcessRecord p = process(m, child.pid());
        assertThat(p.getPpid()).isEqualTo(ProcessHandle.current().pid());
        assertThat(p.getComm()).isEqualTo("java");
        assertThat(p.getArgvList()).contains("io.lockstep.agent.testing.LockHolder", "posix-write", a.toString());
        assertThat(p.getCwd()).isEqualTo(Path.of("").toAbsolutePath().toString());
        assertThat(p.getCwdIdentity().getRelativePath()).isEqualTo(p.getCwd());
        assertThat(p.getUid()).isEqualTo(Integer.parseInt(Files.getAttribute(Path.of("/proc/self"), "unix:uid").toString()));
        assertThat(p.getTidsList()).contains(child.pid());
        assertThat(p.getRestart()).isEqualTo(spec);

        FdRecord locked = p.getFdsList().stream().filter(f -> f.getFd() == child.fdOf("posix-write", 0)).findFirst().orElseThrow();
        assertThat(locked.getKind()).isEqualTo(FdKind.FD_REGULAR);
        assertThat(locked.getPath()).isEqualTo(a.toString());
        assertThat(locked.getInode()).isEqualTo(inode(a));
        assertThat(locked.getSize()).isEqualTo(100);
        assertThat(locked.getMtimeNs()).isEqualTo(Files.getLastModifiedTime(a).to(TimeUnit.NANOSECONDS));
        assertThat(locked.getOpenFlags() & 3).isEqualTo(2); // O_RDWR
        assertThat(locked.getCloseOnExec()).isFalse();
        assertThat(locked.getIdentity().getKind()).isEqualTo(IdentityKind.LOCAL);
        assertThat(locked.getIdentity().getDevice()).isNotEmpty();

        FdRecord deleted = p.getFdsList().stream().filter(f -> f.getFd() == child.fdOf("open-deleted", 0)).findFirst().orElseThrow();
        assertThat(deleted.getKind()).isEqualTo(FdKind.FD_DELETED_FILE);
        assertThat(deleted.hasIdentity()).isFalse();
        FdRecord stdin = p.getFdsList().stream().filter(f -> f.getFd() == 0).findFirst().orElseThrow();
        assertThat(stdin.getKind()).isEqualTo(FdKind.FD_PIPE);
        assertThat(m.getWarningsList())
                .anyMatch(wn -> wn.startsWith("pid " + child.pid() + " fd 0 (pipe:[") && wn.endsWith("FD_PIPE is recorded but not restorable"))
                .anyMatch(wn -> wn.startsWith("pid " + child.pid() + " fd " + deleted.getFd() + " (" + gone + " (deleted))"))
                .noneMatch(wn -> wn.contains("no restart spec"));
        assertThat(CaptureStats.of(m).processes()).isEqualTo(1);
        assertThat(CaptureStats.of(m).heldLocks()).isEqualTo(1);
        assertThat(CaptureStats.of(m).fds()).isEqualTo(p.getFdsCount());
    }

    @Test
    void aFlockInheritedThroughForkIsRecordedOnceOnItsTaker() throws Exception {
        Path flockTool = Path.of("/usr/bin/flock");
        assumeTrue(Files.isExecutable(flockTool), "needs util-linux flock(1)");
        long ic = inode(c);
        // flock(1) locks, then forks the command, which inherits the fd: one open file
        // description, one lock in /proc/locks, listed in the fdinfo of both processes
        Process flock = new ProcessBuilder(flockTool.toString(), "-x", c.toString(), "sleep", "600").start();
        try {
            await("sleep forked by flock(1) with " + c + " open").atMost(Duration.ofSeconds(30)).until(() ->
                    flock.children().findFirst().map(h -> fdOn(h.pid(), c)).orElse(false)
                            && procLocksOn(Set.of(ic)).size() == 1);
            int taker = (int) flock.pid();
            int heir = (int) flock.children().findFirst().orElseThrow().pid();

            Manifest m = new GroupCapturer().capture(scope(List.of(taker, heir), Map.of()));

            assertThat(locksOf(m)).extracting(Lock::pid, Lock::kind, Lock::inode)
                    .containsExactly(tuple(taker, LockKind.FLOCK, ic));
            assertThat(m.getWarningsList()).anyMatch(wn -> wn.startsWith("pid " + heir + " fd ")
                    && wn.contains("same lock as pid " + taker) && wn.endsWith("recorded there only"));
        } finally {
            flock.descendants().forEach(ProcessHandle::destroyForcibly);
            flock.destroyForcibly();
            flock.waitFor();
        }
    }

    private static boolean fdOn(long pid, Path file) {
        try (var fds = Files.list(Path.of("/proc", Long.toString(pid), "fd"))) {
            return fds.anyMatch(fd -> {
                try {
                    return Files.readSymbolicLink(fd).equals(file);
                } catch (IOException e) {
                    return false;
                }
            });
        } catch (IOException e) {
            return false;
        }
    }

    @Test
    void aLeaseIsRecordedWithAWarning() throws Exception {
        Child child = start("lease-read", c.toString());
        child.awaitLine("READY");

        Manifest m = new GroupCapturer().capture(scope(List.of(child.pid()), Map.of()));

        assertThat(locksOf(m)).containsExactly(
                new Lock(child.pid(), LockKind.LEASE, LockType.READ, 0, -1, child.fdOf("lease-read", 0), false, inode(c)));
        assertThat(m.getWarningsList()).anyMatch(wn -> wn.contains("leases are not restorable"))
                .anyMatch(wn -> wn.contains("pid " + child.pid() + " (java) has no restart spec"));
    }

    @Test
    void threadsAndAGrandchildInTheScopeAreCaptured() throws Exception {
        Child child = start("threads", "3", "grandchild", "flock-ex", c.toString());
        List<String> threads = child.linesUntilReady("THREAD ");
        int grandchild = Integer.parseInt(child.line("GRANDCHILD ").split(" ")[1]);

        // Stopped, as a frozen group is: a JVM child still opens and closes fds after READY, and a
        // capture of a running process can meet an fd that is gone (seen in a fresh-clone run).
        Manifest m;
        signal("-STOP", child.pid(), grandchild);
        try {
            m = new GroupCapturer().capture(scope(List.of(child.pid(), grandchild), Map.of()));
        } finally {
            signal("-CONT", child.pid(), grandchild);
        }

        ProcessRecord p = process(m, child.pid());
        assertThat(p.getTidsList()).contains(child.pid())
                .containsAll(threads.stream().map(t -> Integer.parseInt(t.split(" ")[1])).toList());
        assertThat(threads).hasSize(3);
        ProcessRecord g = process(m, grandchild);
        assertThat(g.getPpid()).isEqualTo(child.pid());
        assertThat(g.getLocksList()).isEmpty();
        assertThat(p.getLocksList()).extracting(LockRecord::getKind).containsExactly(LockKind.FLOCK);
    }

    private static void signal(String signal, int... pids) throws Exception {
        List<String> command = new java.util.ArrayList<>(List.of("kill", signal));
        for (int pid : pids) {
            command.add(Integer.toString(pid));
        }
        assertThat(new ProcessBuilder(command).inheritIO().start().waitFor()).as(String.join(" ", command)).isZero();
    }

    @Test
    void aProcessThatExitedIsACaptureExceptionNamingIt() throws Exception {
        Child alive = start();
        alive.awaitLine("READY");
        Child dying = start();
        dying.awaitLine("READY");
        int dead = dying.pid();
        dying.kill();
        await("pid " + dead + " gone from /proc").atMost(Duration.ofSeconds(30))
                .until(() -> !Files.exists(Path.of("/proc", Integer.toString(dead))));

        assertThatThrownBy(() -> new GroupCapturer().capture(scope(List.of(alive.pid(), dead), Map.of())))
                .isInstanceOf(CaptureException.class)
                .hasMessageContaining("process " + dead + " exited during capture")
                .satisfies(e -> assertThat(((CaptureException) e).pid()).isEqualTo(dead));
    }
}
