package io.lockstep.coordinator.restore;

import io.lockstep.coordinator.op.RestoreResult;
import io.lockstep.coordinator.checkpoint.CheckpointOperation;
import io.lockstep.coordinator.checkpoint.CheckpointOptions;
import io.lockstep.coordinator.op.OperationListener;
import io.lockstep.coordinator.testing.Invariants;
import io.lockstep.coordinator.testing.LocalCluster;
import io.lockstep.coordinator.testing.ProcLocksSnapshot;
import io.lockstep.proto.StagedProcess;
import org.awaitility.core.ConditionTimeoutException;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.Callable;
import java.util.stream.Stream;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

/**
 * flock and OFD locks are handed over: the holder's stub holds them through prepare and closes
 * them at execve, the holder's program (which takes its lock again from the start, as unmodified
 * programs do) gets it instead of waiting for itself, and the waiter — restored on the other
 * host — is released only after that, and gets the lock only when the holder lets go. Two agents
 * share a tmpfs export whose source reads server:/export, which they count as a network file
 * system; the hosts are swapped on restore.
 */
class LockHandOverRestoreTest {
    /** Takes an OFD write lock on bytes 0-9 of argv[1], blocking, then reports and stays. */
    private static final String OFD_PROGRAM = String.join("\n",
            "import fcntl, os, struct, sys, time",
            "fd = os.open(sys.argv[1], os.O_RDWR)",
            "print('START', flush=True)",
            "F_OFD_SETLKW = 38",
            "fcntl.fcntl(fd, F_OFD_SETLKW, struct.pack('hh4xqqi4x', fcntl.F_WRLCK, os.SEEK_SET, 0, 10, 0))",
            "print('LOCKED restored=' + os.environ.get('LOCKSTEP_RESTORED', '0'), flush=True)",
            "time.sleep(1000000)");

    private LocalCluster cluster;
    private Path export;

    @BeforeEach
    void setUp() throws Exception {
        cluster = LocalCluster.start();
        export = cluster.startAgentsSharingExport("export", "h1", "h2");
    }

    @AfterEach
    void tearDown() throws Exception {
        cluster.close();
    }

    @Test
    void flockHolderAndWaiterStartedAsFlock1RestoreOnSwappedHostsWithoutDeadlock() throws Exception {
        Path file = Files.writeString(export.resolve("flocked"), "");
        int holder = cluster.run("h1", "app", List.of("flock", "-x", file.toString(), "/bin/sh", "-c",
                "echo \"HOLDING restored=${LOCKSTEP_RESTORED:-0}\"; exec sleep 1000000"));
        await("flock(1) on h1 holds the lock").atMost(Duration.ofSeconds(30))
                .until(() -> cluster.output("h1", "app", holder).contains("HOLDING restored=0"));
        int waiter = cluster.run("h2", "app", List.of("flock", "-x", file.toString(), "/bin/sh", "-c",
                "echo \"GOT restored=${LOCKSTEP_RESTORED:-0}\"; exec sleep 1000000"));
        await("flock(1) on h2 waits").atMost(Duration.ofSeconds(30))
                .until(() -> ProcLocksSnapshot.read().waitingOf(waiter).size() == 1);

        RestoreResult restored = checkpointKillAndRestoreSwapped(file);

        int newHolder = newPid(restored, "h2", holder);
        int newWaiter = newPid(restored, "h1", waiter);
        awaitOrExplain("the restored flock(1) takes its lock again instead of waiting for itself",
                () -> cluster.output("h2", "app", newHolder).contains("HOLDING restored=1"), newHolder);
        await("the restored waiter waits for the lock").atMost(Duration.ofSeconds(30))
                .until(() -> ProcLocksSnapshot.read().waitingOf(newWaiter).size() == 1);
        assertThat(restored.handOverTimeouts()).isEmpty();
        assertThat(cluster.output("h1", "app", newWaiter)).doesNotContain("GOT");

        killWithDescendants(newHolder);
        await("the waiter gets the lock once the holder let go").atMost(Duration.ofSeconds(30))
                .until(() -> cluster.output("h1", "app", newWaiter).contains("GOT restored=1"));
        Invariants.assertAll(cluster);
    }

    /**
     * The shell idiom {@code exec 9>>file; flock -x 9}: the lock is taken by a forked flock(1) on the
     * shell's descriptor, so the waiter recorded is that child, which has no restart spec and is
     * skipped; its shell, restarted, forks it again. That shell is held back until the restarted
     * holder has the lock again — here a holder that is slow to take it after its restart (its
     * {@code exec 9>>} closes the stub's descriptor, and with it the handed-over lock, first).
     * Before, the waiter's shell was released with the holder and its flock(1) took the lock.
     */
    @Test
    void aShellWhoseForkedFlockWaitsIsHeldBackUntilTheRestartedHolderHasTheLock() throws Exception {
        Path file = Files.writeString(export.resolve("flocked-by-shell"), "");
        String holderScript = "exec 9>>" + file + "; if [ -n \"$LOCKSTEP_RESTORED\" ]; then sleep 1; fi; flock -x 9;"
                + " echo \"HOLDING restored=${LOCKSTEP_RESTORED:-0}\"; exec sleep 1000000";
        String waiterScript = "exec 9>>" + file + "; flock -x 9; echo \"GOT restored=${LOCKSTEP_RESTORED:-0}\";"
                + " exec sleep 1000000";
        int holder = cluster.run("h1", "app", List.of("/bin/sh", "-c", holderScript));
        await("the shell on h1 holds the lock").atMost(Duration.ofSeconds(30))
                .until(() -> cluster.output("h1", "app", holder).contains("HOLDING restored=0"));
        int waiter = cluster.run("h2", "app", List.of("/bin/sh", "-c", waiterScript));
        ProcLocksSnapshot.FileId inode = ProcLocksSnapshot.fileIdOf(file);
        await("the flock(1) forked by the shell on h2 waits").atMost(Duration.ofSeconds(30))
                .until(() -> ProcLocksSnapshot.read().entries().stream().anyMatch(l -> l.waiter() && inode.lockedBy(l)));

        RestoreResult restored = checkpointKillAndRestoreSwapped(file);

        int newHolder = newPid(restored, "h2", holder);
        int newWaiter = newPid(restored, "h1", waiter);
        awaitOrExplain("the restarted holder takes the lock again, before the waiter's shell",
                () -> cluster.output("h2", "app", newHolder).contains("HOLDING restored=1"), newHolder);
        assertThat(restored.handOverTimeouts()).isEmpty();
        await("the waiter's shell, released after the hand-over, forks a flock(1) that waits").atMost(Duration.ofSeconds(30))
                .until(() -> ProcLocksSnapshot.read().entries().stream().anyMatch(l -> l.waiter() && inode.lockedBy(l)));
        assertThat(cluster.output("h1", "app", newWaiter)).doesNotContain("GOT");

        killWithDescendants(newHolder);
        await("the waiter gets the lock once the holder let go").atMost(Duration.ofSeconds(30))
                .until(() -> cluster.output("h1", "app", newWaiter).contains("GOT restored=1"));
        Invariants.assertAll(cluster);
    }

    @Test
    void ofdHolderAndWaiterRestoreOnSwappedHostsWithoutDeadlock() throws Exception {
        Path file = Files.writeString(export.resolve("ofd"), "0123456789");
        List<String> program = List.of("/usr/bin/python3", "-c", OFD_PROGRAM, file.toString());
        int holder = cluster.run("h1", "app", program);
        await("the OFD holder on h1 holds its lock").atMost(Duration.ofSeconds(30))
                .until(() -> cluster.output("h1", "app", holder).contains("LOCKED restored=0"));
        int waiter = cluster.run("h2", "app", program);
        ProcLocksSnapshot.FileId inode = ProcLocksSnapshot.fileIdOf(file);
        await("the OFD waiter on h2 waits").atMost(Duration.ofSeconds(30))
                .until(() -> cluster.output("h2", "app", waiter).contains("START") && ofdWaiters(inode) == 1);

        RestoreResult restored = checkpointKillAndRestoreSwapped(file);

        int newHolder = newPid(restored, "h2", holder);
        int newWaiter = newPid(restored, "h1", waiter);
        awaitOrExplain("the restored holder takes its OFD lock again instead of waiting for itself",
                () -> cluster.output("h2", "app", newHolder).contains("LOCKED restored=1"), newHolder);
        await("the restored waiter waits for the lock").atMost(Duration.ofSeconds(30))
                .until(() -> cluster.output("h1", "app", newWaiter).contains("START") && ofdWaiters(inode) == 1);
        assertThat(restored.handOverTimeouts()).isEmpty();
        assertThat(cluster.output("h1", "app", newWaiter)).doesNotContain("LOCKED");

        killWithDescendants(newHolder);
        await("the waiter gets the lock once the holder let go").atMost(Duration.ofSeconds(30))
                .until(() -> cluster.output("h1", "app", newWaiter).contains("LOCKED restored=1"));
        Invariants.assertAll(cluster);
    }

    /**
     * sqlite3 itself, started directly, holds its database in a transaction (BEGIN EXCLUSIVE: one
     * POSIX write lock over its lock bytes), and a second sqlite3 waits for it through its busy
     * timeout (polling, as SQLite does: it never blocks in the kernel, so no wait is recorded and
     * it is not held back). POSIX locks stay with the stub's pid through the exec, but the restarted
     * sqlite3 drops them before it locks again: its shell opens and closes the database file once
     * to read its header (closing any descriptor of a file drops all of the process's POSIX locks on
     * it), and SQLite then climbs from a read lock. A polling waiter may take the database in that
     * window (README "Limitations"), so the holder waits through its busy timeout too, and what is
     * asserted is what is guaranteed: the restarted holder ends up with the same lock table, the
     * waiter holds nothing while it does, and the waiter gets the database once the holder let go.
     * The holder's `.shell` child (sh, then sleep) has no restart spec.
     */
    @Test
    void sqlite3HolderAndBusyWaiterRestoreOnSwappedHostsWithTheSameLockTable() throws Exception {
        Path db = export.resolve("app.db");
        Process create = new ProcessBuilder("sqlite3", db.toString(), "CREATE TABLE t(x); INSERT INTO t VALUES (1);")
                .inheritIO().start();
        assertThat(create.waitFor()).as("sqlite3 creates " + db).isZero();
        int holder = cluster.run("h1", "app", List.of("sqlite3", "-cmd", ".timeout 600000", "-cmd",
                "BEGIN EXCLUSIVE;", "-cmd", ".shell echo HOLDING restored=${LOCKSTEP_RESTORED:-0} ; exec sleep 1000000",
                db.toString()));
        await("sqlite3 on h1 holds its database").atMost(Duration.ofSeconds(30))
                .until(() -> cluster.output("h1", "app", holder).contains("HOLDING restored=0")
                        && !ProcLocksSnapshot.read().heldBy(holder).isEmpty());
        Set<String> heldBefore = posixKeys(holder);
        int waiter = cluster.run("h2", "app", List.of("sqlite3", "-cmd", ".timeout 600000", "-cmd",
                ".shell echo WAITING restored=${LOCKSTEP_RESTORED:-0}", db.toString(),
                "BEGIN EXCLUSIVE; SELECT 'GOT'; COMMIT;"));
        await("sqlite3 on h2 waits for the database").atMost(Duration.ofSeconds(30))
                .until(() -> cluster.output("h2", "app", waiter).contains("WAITING restored=0"));

        RestoreResult restored = checkpointKillAndRestoreSwapped(db);

        int newHolder = newPid(restored, "h2", holder);
        int newWaiter = newPid(restored, "h1", waiter);
        awaitOrExplain("the restored sqlite3 holds its database again",
                () -> cluster.output("h2", "app", newHolder).contains("HOLDING restored=1"), newHolder);
        assertThat(posixKeys(newHolder)).as("the lock table of the restored holder, pids mapped")
                .isEqualTo(heldBefore);
        await("the restored waiter runs and waits").atMost(Duration.ofSeconds(30))
                .until(() -> cluster.output("h1", "app", newWaiter).contains("WAITING restored=1"));
        assertThat(ProcLocksSnapshot.read().heldBy(newWaiter)).as("the waiter holds nothing").isEmpty();
        assertThat(posixKeys(newHolder)).as("the restored holder still holds its database").isEqualTo(heldBefore);

        killWithDescendants(newHolder);
        await("the waiter gets the database once the holder let go").atMost(Duration.ofSeconds(30))
                .until(() -> cluster.output("h1", "app", newWaiter).contains("GOT"));
        Invariants.assertAll(cluster);
    }

    /**
     * The holder's stub dies after the last confirm answer, so its host's release fails and its
     * program never takes the lock again: the coordinator then does not release the held-back
     * waiter itself (it cannot know whether the holder's program holds its lock yet); the waiter's
     * agent releases it after the hand-over timeout, and it gets the lock.
     */
    @Test
    void afterAFailedReleaseTheHeldBackWaiterIsReleasedByItsAgentAfterTheHandOverTimeout() throws Exception {
        Path file = Files.writeString(export.resolve("flocked"), "");
        int holder = cluster.run("h1", "app", List.of("flock", "-x", file.toString(), "/bin/sh", "-c",
                "echo \"HOLDING restored=${LOCKSTEP_RESTORED:-0}\"; exec sleep 1000000"));
        await("flock(1) on h1 holds the lock").atMost(Duration.ofSeconds(30))
                .until(() -> cluster.output("h1", "app", holder).contains("HOLDING restored=0"));
        int waiter = cluster.run("h2", "app", List.of("flock", "-x", file.toString(), "/bin/sh", "-c",
                "echo \"GOT restored=${LOCKSTEP_RESTORED:-0}\"; exec sleep 1000000"));
        await("flock(1) on h2 waits").atMost(Duration.ofSeconds(30))
                .until(() -> ProcLocksSnapshot.read().waitingOf(waiter).size() == 1);
        new CheckpointOperation(cluster.coordinator(), CheckpointOptions.defaults(), OperationListener.SILENT).run("app");
        cluster.killApplications();
        ProcLocksSnapshot.FileId inode = ProcLocksSnapshot.fileIdOf(file);
        await("the killed processes' locks are gone").atMost(Duration.ofSeconds(10))
                .until(() -> !ProcLocksSnapshot.heldOn(inode));
        OperationListener killTheHolderStubAfterTheLastConfirm = new OperationListener() {
            @Override
            public void hostDone(String phase, String hostId, int done, int total, String detail) {
                if (phase.equals("confirm") && done == total) {
                    try {
                        // the holder's stub holds the flock through prepare, by its own pid
                        ProcLocksSnapshot.read().entries().stream()
                                .filter(e -> !e.waiter() && e.kind().equals("FLOCK") && inode.lockedBy(e))
                                .forEach(e -> ProcessHandle.of(e.pid()).ifPresent(ProcessHandle::destroyForcibly));
                    } catch (java.io.IOException e) {
                        throw new java.io.UncheckedIOException(e);
                    }
                }
            }
        };
        // the hand-over timeout is the RPC timeout, which the op timeout caps: short, to keep the test fast
        Duration handOverTimeout = Duration.ofSeconds(15);

        RestoreResult restored;
        try {
            restored = new RestoreOperation(cluster.coordinator(), RestoreOptions.defaults().withAllowRoot(true)
                    .withSkipUnrestartable(true).withHostMap(Map.of("h1", "h2", "h2", "h1"))
                    .withTimeout(handOverTimeout), killTheHolderStubAfterTheLastConfirm).run("app");
        } catch (io.lockstep.coordinator.op.OperationFailedException aborted) {
            // h2's agent saw its stub die before the COMMIT and aborted: nothing was released
            assertThat(Invariants.decisions(cluster, "app")).anyMatch(d -> !d.isCommit());
            Invariants.assertAll(cluster);
            return;
        }
        assertThat(restored.fullyReleased()).isFalse();
        assertThat(restored.releaseFailures()).containsKey("h2");
        assertThat(restored.releaseFailures().get("h1")).as("h1's waiter is left to its agent")
                .contains("released 0 of 1 staged processes", "released by the agent after the hand-over timeout",
                        "the release failed on host(s) h2");
        int newWaiter = newPid(restored, "h1", waiter);
        await("the held-back waiter is released by its agent and gets the lock")
                .atMost(handOverTimeout.plus(LocalCluster.SESSION_TIMEOUT).plusSeconds(30))
                .until(() -> ProcessHandle.of(newWaiter).isPresent()
                        && cluster.output("h1", "app", newWaiter).contains("GOT restored=1"));
        Invariants.assertAll(cluster);
    }

    /** The POSIX locks {@code pid} holds, without the pid: comparable across a restore. */
    private static Set<String> posixKeys(int pid) throws Exception {
        return ProcLocksSnapshot.read().heldBy(pid).stream()
                .map(e -> e.kind() + " " + e.type() + " ino=" + e.inode() + " [" + e.start() + "," + e.end() + "]")
                .collect(java.util.stream.Collectors.toCollection(java.util.TreeSet::new));
    }

    private RestoreResult checkpointKillAndRestoreSwapped(Path file) throws Exception {
        new CheckpointOperation(cluster.coordinator(), CheckpointOptions.defaults(), OperationListener.SILENT).run("app");
        cluster.killApplications();
        ProcLocksSnapshot.FileId inode = ProcLocksSnapshot.fileIdOf(file);
        await("the killed processes' locks are gone").atMost(Duration.ofSeconds(10))
                .until(() -> !ProcLocksSnapshot.heldOn(inode));
        // flock(1) forks its command, which has no restart spec: the restarted flock(1) forks it again.
        return new RestoreOperation(cluster.coordinator(), RestoreOptions.defaults().withAllowRoot(true)
                .withSkipUnrestartable(true).withHostMap(Map.of("h1", "h2", "h2", "h1")), OperationListener.SILENT)
                .run("app");
    }

    /** Waits; on a timeout the failure shows the lock table, the holder's fds and the agents' logs. */
    private void awaitOrExplain(String what, Callable<Boolean> condition, int pid) throws Exception {
        try {
            await(what).atMost(Duration.ofSeconds(30)).until(condition);
        } catch (ConditionTimeoutException e) {
            StringBuilder seen = new StringBuilder(what + "\n/proc/locks:\n" + Files.readString(Path.of("/proc/locks")));
            Path fdinfo = Path.of("/proc", Integer.toString(pid), "fdinfo");
            if (Files.isDirectory(fdinfo)) {
                try (Stream<Path> fds = Files.list(fdinfo)) {
                    for (Path fd : fds.toList()) {
                        seen.append("\nfd ").append(fd.getFileName()).append(": ").append(Files.readString(fd));
                    }
                }
            }
            for (String host : List.of("h1", "h2")) {
                Path logs = cluster.outputLog(host, "app", 0).getParent();
                try (Stream<Path> files = Files.list(logs)) {
                    for (Path log : files.toList()) {
                        seen.append("\n").append(log).append(":\n").append(Files.readString(log));
                    }
                }
            }
            throw new AssertionError(seen.toString(), e);
        }
    }

    private static long ofdWaiters(ProcLocksSnapshot.FileId inode) throws Exception {
        return ProcLocksSnapshot.read().entries().stream()
                .filter(e -> e.waiter() && e.kind().equals("OFDLCK") && inode.lockedBy(e)).count();
    }

    private static void killWithDescendants(int pid) {
        ProcessHandle process = ProcessHandle.of(pid).orElseThrow();
        process.descendants().forEach(ProcessHandle::destroyForcibly);
        process.destroyForcibly();
    }

    private static int newPid(RestoreResult result, String host, int oldPid) {
        return result.processesByHost().get(host).stream().filter(p -> p.getOldPid() == oldPid)
                .mapToInt(StagedProcess::getNewPid).findFirst().orElseThrow();
    }
}
