package io.lockstep.agent.restore;

import static io.lockstep.agent.restore.StubFixture.assertNoLocksOf;
import static io.lockstep.agent.restore.StubFixture.deadline;
import static io.lockstep.agent.restore.StubFixture.fd;
import static io.lockstep.agent.restore.StubFixture.lock;
import static io.lockstep.agent.restore.StubFixture.locksOn;
import static org.assertj.core.api.Assertions.assertThat;

import io.lockstep.agent.nativeio.LibC;
import io.lockstep.proto.LockKind;
import io.lockstep.proto.LockType;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/** An aborted restore, or one whose agent vanished, leaves no stub and no lock behind. */
class StubAbortTest {
    private StubFixture fixture;
    private Path a;
    private Path b;
    private StubHandle stub;

    @BeforeEach
    void setUp() throws Exception {
        fixture = new StubFixture();
        a = fixture.file("a.dat", 100);
        b = fixture.file("b.dat", 100);
        stub = fixture.staged(fixture.plan(List.of(fd(3, a, LibC.O_RDWR, 0), fd(6, b, LibC.O_RDWR, 0)),
                "exit 0", Map.of()));
        PrepareOutcome outcome = stub.prepare(List.of(
                lock(3, LockKind.POSIX, LockType.WRITE, 0, -1),
                lock(6, LockKind.OFD, LockType.READ, 0, 9),
                lock(6, LockKind.FLOCK, LockType.READ, 0, -1)), false, deadline());
        assertThat(outcome.prepared()).isTrue();
        assertThat(locksOn(a, b)).hasSize(3);
    }

    @AfterEach
    void tearDown() throws Exception {
        fixture.close();
    }

    @Test
    void releaseWithoutCommitEndsTheStub() throws Exception {
        stub.release(false, deadline());
        assertThat(stub.process().isAlive()).isFalse();
        assertThat(stub.process().exitValue()).isEqualTo(StubBinary.EXIT_ABORTED);
        assertNoLocksOf(stub.pid(), a, b);
    }

    @Test
    void closingAPreparedStubsHandleTellsItToAbort() throws Exception {
        // Told, not only cut off: a prepared stub whose channel merely closes takes its agent for
        // dead and waits for a restarted one (coordinator: restore.PreparedStubsSurviveTheirAgentTest).
        stub.close();
        assertThat(stub.process().waitFor(30, TimeUnit.SECONDS)).isTrue();
        assertThat(stub.process().exitValue()).as("exited on the abort, not killed")
                .isEqualTo(StubBinary.EXIT_ABORTED);
        assertNoLocksOf(stub.pid(), a, b);
    }
}
