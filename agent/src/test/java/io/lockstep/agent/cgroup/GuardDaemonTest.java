package io.lockstep.agent.cgroup;

import io.lockstep.agent.restore.StubBinary;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.file.Path;
import java.time.Duration;
import java.time.Instant;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

/** The agent's long-lived freeze guard: armed and disarmed over its socket, it outlives the agent that started it. */
class GuardDaemonTest {
    @TempDir
    Path dir;

    /** Short for a test, long enough for a freeze on a loaded 2-CPU host to finish well before it. */
    private static final Duration MAX_FROZEN = Duration.ofSeconds(4);

    private TestGroup test;
    private int guardPid;

    @AfterEach
    void cleanUp() throws IOException {
        if (guardPid > 0) {
            ProcessHandle.of(guardPid).ifPresent(ProcessHandle::destroyForcibly);
        }
        if (test != null) {
            test.close();
        }
    }

    private GuardDaemon attach() throws IOException {
        GuardDaemon daemon = GuardDaemon.attach(StubBinary.program(GuardDaemon.class, GuardDaemon.NAME, dir),
                dir.resolve("guard.sock"));
        guardPid = daemon.pid();
        return daemon;
    }

    @Test
    void theGuardThawsAGroupNobodyThawsAndTellsTheAgent() throws Exception {
        test = TestGroup.on(Backend.CGROUP_V2, dir);
        List<Path> counters = test.startTree();
        CountDownLatch fired = new CountDownLatch(1);
        try (GuardDaemon daemon = attach()) {
            ArmedGuard guard = daemon.arm("app/ckpt-1", test.group.freezer(), MAX_FROZEN, fired::countDown);
            test.group.freezer().freeze(guard.capDeadline(Instant.now().plusSeconds(10)));
            Map<Path, String> frozen = TestGroup.snapshot(counters);

            assertThat(fired.await(30, TimeUnit.SECONDS)).as("the agent hears that the guard fired").isTrue();
            assertThat(test.group.isFrozen()).isFalse();
            TestGroup.awaitAllMove(frozen);
            assertThat(guard.isArmed()).isFalse();
            assertThat(guard.cancel()).as("a cancel after the guard fired reports the lost freeze").isFalse();
        }
    }

    @Test
    void aCancelledGuardNeverThawsAndTheAgentHearsNothing() throws Exception {
        test = TestGroup.on(Backend.CGROUP_V2, dir);
        test.startTree();
        CountDownLatch fired = new CountDownLatch(1);
        try (GuardDaemon daemon = attach()) {
            ArmedGuard guard = daemon.arm("app/ckpt-1", test.group.freezer(), MAX_FROZEN, fired::countDown);
            test.group.freezer().freeze(guard.capDeadline(Instant.now().plusSeconds(10)));
            assertThat(guard.cancel()).isTrue();
            assertThat(daemon.entryIds()).isEmpty();
            // Past the cancelled entry's time: the group is still frozen, nobody was told anything.
            assertThat(fired.await(MAX_FROZEN.toMillis() + 1000, TimeUnit.MILLISECONDS)).isFalse();
            assertThat(test.group.isFrozen()).isTrue();
            test.group.freezer().thaw();
        }
    }

    @Test
    void theGuardOutlivesItsAgentAndTheNextAgentAttachesToItAndDisarmsWhatWasLeft() throws Exception {
        test = TestGroup.on(Backend.CGROUP_V2, dir);
        test.startTree();
        GuardDaemon first = attach();
        first.arm("app/ckpt-1", test.group.freezer(), Duration.ofMinutes(5), () -> { });
        // The agent goes away with an entry armed: the guard stays to fire it.
        first.close();
        assertThat(ProcessHandle.of(guardPid).map(ProcessHandle::isAlive)).contains(true);

        try (GuardDaemon next = attach()) {
            assertThat(next.pid()).as("the same guard process").isEqualTo(first.pid());
            assertThat(next.entryIds()).containsExactly("app/ckpt-1");
            assertThat(next.disarm("app/ckpt-1")).isEqualTo("DISARMED");
        }
        // Nothing armed and its agent gone: the guard exits with it.
        await("the guard exits with nothing left to guard").atMost(Duration.ofSeconds(20))
                .until(() -> ProcessHandle.of(guardPid).map(process -> !process.isAlive()).orElse(true));
    }

    @Test
    void aGuardStartThatFailsIsTriedAgainAndTheErrorNamesWhatTheProgramWrote() throws Exception {
        // A program that fails as an exec of a binary still open for writing does (ETXTBSY): it
        // counts its starts and says why it cannot run.
        Path starts = dir.resolve("starts");
        Path failing = dir.resolve("failing-guard");
        java.nio.file.Files.writeString(failing, "#!/bin/sh\necho start >> " + starts
                + "\necho \"failing-guard: Text file busy\" >&2\nexit 1\n");
        failing.toFile().setExecutable(true);

        org.assertj.core.api.Assertions.assertThatThrownBy(() -> GuardDaemon.attach(failing, dir.resolve("guard.sock")))
                .isInstanceOf(IOException.class)
                .hasMessageContaining("did not answer on " + dir.resolve("guard.sock"))
                .hasMessageContaining("it wrote: failing-guard: Text file busy");
        assertThat(java.nio.file.Files.readAllLines(starts)).as("every start was tried").hasSize(5);
    }
}
