package io.lockstep.agent.restore;

import static io.lockstep.agent.restore.StubFixture.deadline;
import static io.lockstep.agent.restore.StubFixture.fd;
import static io.lockstep.agent.restore.StubFixture.fdinfo;
import static io.lockstep.agent.restore.StubFixture.lock;
import static io.lockstep.agent.restore.StubFixture.locksOn;
import static io.lockstep.agent.restore.StubFixture.openFds;
import static io.lockstep.agent.restore.StubFixture.position;
import static io.lockstep.agent.restore.StubFixture.target;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.awaitility.Awaitility.await;

import io.lockstep.agent.nativeio.LibC;
import io.lockstep.proto.LockKind;
import io.lockstep.proto.LockType;
import io.lockstep.proto.StubPlan;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

class RestoreStubTest {
    private StubFixture fixture;

    @BeforeEach
    void setUp() throws Exception {
        fixture = new StubFixture();
    }

    @AfterEach
    void tearDown() throws Exception {
        fixture.close();
    }

    @Test
    void stagesLocksAndExecsKeepingPidFdsAndLocks() throws Exception {
        Path a = fixture.file("a.dat", 4096);
        Path b = fixture.file("b.dat", 4096);
        Path c = fixture.file("c.log", 100);
        Path d = fixture.file("d.dat", 4096);
        Path sub = Files.createDirectory(fixture.dir.resolve("sub"));
        Path out = fixture.dir.resolve("report");
        Path stdout = fixture.file("app.out", 0);
        // Fds 3-5 are where the JVM would put its own jars without the placeholders.
        StubPlan plan = fixture.plan(List.of(
                        fd(1, stdout, LibC.O_WRONLY | LibC.O_APPEND, 0),
                        fd(3, a, LibC.O_RDWR, 5),
                        fd(4, b, LibC.O_RDONLY, 2),
                        fd(5, c, LibC.O_WRONLY | LibC.O_APPEND | LibC.O_CREAT | LibC.O_TRUNC, 100),
                        fd(7, sub, LibC.O_RDONLY, 0),
                        fd(200, d, LibC.O_RDWR | LibC.O_CLOEXEC, 100)),
                "echo restored-stdout; { echo \"$LOCKSTEP_RESTORED $LOCKSTEP_CHECKPOINT\"; "
                        + "for n in 3 4 5 7 200; do echo \"$n $(readlink /proc/self/fd/$n)\"; done; } > \"$OUT.tmp\" "
                        + "&& mv \"$OUT.tmp\" \"$OUT\"; exec sleep 600",
                Map.of("OUT", out.toString()));

        StubHandle stub = fixture.staged(plan);
        long pid = stub.pid();
        assertThat(pid).isEqualTo(stub.process().pid());
        assertThat(target(pid, 1)).isEqualTo(stdout);
        assertThat(target(pid, 3)).isEqualTo(a);
        assertThat(target(pid, 4)).isEqualTo(b);
        assertThat(target(pid, 5)).isEqualTo(c);
        assertThat(target(pid, 7)).isEqualTo(sub);
        assertThat(target(pid, 200)).isEqualTo(d);
        assertThat(position(pid, 3)).isEqualTo(5);
        assertThat(position(pid, 4)).isEqualTo(2);
        assertThat(position(pid, 200)).isEqualTo(100);
        assertThat(Files.size(c)).as("O_TRUNC is never applied on restore").isEqualTo(100);
        assertThat(Files.readString(Path.of("/proc/" + pid + "/status")))
                .contains("Uid:\t65534\t65534\t65534\t65534");

        PrepareOutcome outcome = stub.prepare(List.of(
                lock(3, LockKind.POSIX, LockType.WRITE, 0, 9),
                lock(3, LockKind.POSIX, LockType.READ, 20, -1),
                lock(4, LockKind.POSIX, LockType.READ, 0, 99),
                lock(200, LockKind.OFD, LockType.WRITE, 0, 49),
                lock(5, LockKind.FLOCK, LockType.WRITE, 0, -1)), false, deadline());
        assertThat(outcome.result()).isEqualTo(PrepareOutcome.Result.PREPARED);
        assertThat(outcome.locksHeld()).isEqualTo(5);
        assertLocksHeld(pid, a, b);

        stub.release(true, deadline());

        await("restarted program wrote its report").atMost(Duration.ofSeconds(30)).until(() -> Files.exists(out));
        assertThat(Files.readString(stdout)).as("recorded stdout restored; the stub wrote nothing to it")
                .isEqualTo("restored-stdout\n");
        assertThat(Files.readAllLines(out)).containsExactly(
                "1 ckpt-7", "3 " + a, "4 " + b, "5 " + c, "7 " + sub, "200 " + d);
        await("restarted program reached its sleep").atMost(Duration.ofSeconds(30))
                .until(() -> Files.readString(Path.of("/proc/" + pid + "/comm")).trim().equals("sleep"));
        assertThat(stub.process().isAlive()).isTrue();
        assertThat(openFds(pid)).as("fds of the restored program").containsExactly(0, 1, 2, 3, 4, 5, 7, 200);
        assertThat(position(pid, 3)).isEqualTo(5);
        assertThat(position(pid, 200)).isEqualTo(100);
        assertLocksHeld(pid, a, b);
    }

    private static void assertLocksHeld(long pid, Path a, Path b) throws Exception {
        List<ProcLocks.Entry> posix = locksOn(a, b).stream().filter(e -> e.kind().equals("POSIX")).toList();
        assertThat(posix).as("POSIX locks of pid %d", pid).allMatch(e -> e.pid() == pid)
                .extracting(e -> e.type() + " " + e.start() + "-" + e.end())
                .containsExactlyInAnyOrder("WRITE 0-9", "READ 20--1", "READ 0-99");
        assertThat(fdinfo(pid, 200)).as("fdinfo of fd 200").containsPattern("lock:.*OFDLCK\\s+ADVISORY\\s+WRITE");
        assertThat(fdinfo(pid, 5)).as("fdinfo of fd 5").containsPattern("lock:.*FLOCK\\s+ADVISORY\\s+WRITE");
    }

    /**
     * An agent stopped (SIGSTOP, a long pause) past its release deadline after the COMMIT: the stub
     * still gets its moment to exec, and the handle never ends the program it became. Before, the
     * RELEASE timed out at once and closing the handle killed the restored holder five seconds later,
     * and another host's waiter took its lock (fault schedules, seed 20261219).
     */
    @Test
    void aCommittingReleaseWhoseDeadlinePassedStillExecsAndTheProgramOutlivesTheHandle() throws Exception {
        Path a = fixture.file("a.dat", 10);
        StubHandle stub = fixture.staged(fixture.plan(List.of(fd(3, a, LibC.O_RDWR, 0)), "exec sleep 600", Map.of()));
        long pid = stub.pid();
        assertThat(stub.prepare(List.of(lock(3, LockKind.POSIX, LockType.WRITE, 0, -1)), false, deadline()).result())
                .isEqualTo(PrepareOutcome.Result.PREPARED);

        stub.release(true, java.time.Instant.now().minusSeconds(5));
        stub.close();

        await("the released stub became the program").atMost(Duration.ofSeconds(30))
                .until(() -> Files.readString(Path.of("/proc/" + pid + "/comm")).trim().equals("sleep"));
        assertThat(stub.process().onExit()).as("the program outlives its closed handle")
                .isNotCompleted();
        assertThat(locksOn(a)).as("the program holds the lock the stub took").singleElement()
                .satisfies(e -> assertThat(e.pid()).isEqualTo(pid));
    }

    @Test
    void stagingFailureNamesFdAndPath() throws Exception {
        Path missing = fixture.dir.resolve("gone.dat");
        Path present = fixture.file("here.dat", 10);
        StubPlan plan = fixture.plan(List.of(fd(3, present, LibC.O_RDWR, 0), fd(9, missing, LibC.O_RDWR, 0)),
                "exit 0", Map.of());
        StubHandle stub = fixture.launch(plan);
        assertThatThrownBy(() -> stub.stage(deadline()))
                .isInstanceOf(StubException.class)
                .hasMessageContaining("pid " + stub.pid())
                .hasMessageContaining("fd 9")
                .hasMessageContaining(missing.toString())
                .satisfies(e -> assertThat(((StubException) e).fd()).isEqualTo(9));
        assertThat(Files.exists(missing)).as("a missing file is never created").isFalse();
        assertThat(stub.process().onExit().get().exitValue()).isEqualTo(StubBinary.EXIT_STAGE_FAILED);
    }

    @Test
    void stubRefusesRootWithoutPermission() throws Exception {
        StubPlan plan = fixture.plan(List.of(), "exit 0", Map.of()).toBuilder().setUid(0).setGid(0).build();
        StubHandle stub = fixture.launch(plan);
        assertThatThrownBy(() -> stub.stage(deadline())).isInstanceOf(StubException.class)
                .hasMessageContaining("uid 0");
    }

    @Test
    void execFailureIsReported() throws Exception {
        StubPlan plan = fixture.plan(List.of(), "exit 0", Map.of()).toBuilder().setArgv(0, "no-such-program-x")
                .build();
        StubHandle stub = fixture.launch(plan);
        assertThatThrownBy(() -> stub.stage(deadline())).isInstanceOf(StubException.class)
                .hasMessageContaining("no-such-program-x");
    }
}
