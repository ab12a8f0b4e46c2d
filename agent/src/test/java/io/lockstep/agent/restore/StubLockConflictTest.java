package io.lockstep.agent.restore;

import static io.lockstep.agent.restore.StubFixture.assertNoLocksOf;
import static io.lockstep.agent.restore.StubFixture.deadline;
import static io.lockstep.agent.restore.StubFixture.fd;
import static io.lockstep.agent.restore.StubFixture.lock;
import static io.lockstep.agent.restore.StubFixture.locksOn;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.awaitility.Awaitility.await;

import io.lockstep.agent.nativeio.LibC;
import io.lockstep.proto.LockKind;
import io.lockstep.proto.LockRecord;
import io.lockstep.proto.LockType;
import io.lockstep.proto.StubPlan;
import java.nio.file.Path;
import java.time.Duration;
import java.time.Instant;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/** A process outside the group (here: another stub, a separate child) holds a lock the restore needs. */
class StubLockConflictTest {
    private StubFixture fixture;
    private ExecutorService executor;
    private Path free;
    private Path contended;
    private StubHandle outsider;
    private StubHandle stub;

    @BeforeEach
    void setUp() throws Exception {
        fixture = new StubFixture();
        executor = Executors.newSingleThreadExecutor();
        free = fixture.file("free.dat", 1000);
        contended = fixture.file("contended.dat", 1000);
        StubPlan plan = fixture.plan(List.of(fd(3, free, LibC.O_RDWR, 0), fd(4, contended, LibC.O_RDWR, 0)),
                "exit 0", Map.of());
        outsider = fixture.staged(plan);
        stub = fixture.staged(plan);
    }

    @AfterEach
    void tearDown() throws Exception {
        executor.shutdownNow();
        fixture.close();
    }

    /** The stub's locks: one on a free file first, so a conflict must undo it. */
    private static List<LockRecord> wanted(LockKind kind) {
        return List.of(lock(3, LockKind.POSIX, LockType.WRITE, 0, 99), lock(4, kind, LockType.WRITE, 10, 19));
    }

    private void outsiderHolds(LockKind kind) throws Exception {
        PrepareOutcome held = outsider.prepare(List.of(lock(4, kind, LockType.READ, 0, -1)), false, deadline());
        assertThat(held.prepared()).isTrue();
    }

    /** The stub took the free file's lock, so it is now waiting for the contended one. */
    private void awaitWaitingFor(CompletableFuture<PrepareOutcome> waiting) {
        await("stub holds the free file's lock and waits for the contended one").atMost(Duration.ofSeconds(30))
                .until(() -> locksOn(free).stream().anyMatch(e -> e.pid() == stub.pid()));
        assertThat(waiting).as("prepare waits while the outsider holds the lock").isNotDone();
    }

    @Test
    void nonBlockingConflictNamesPosixHolderAndHoldsNothing() throws Exception {
        outsiderHolds(LockKind.POSIX);
        PrepareOutcome outcome = stub.prepare(wanted(LockKind.POSIX), false, deadline());
        assertThat(outcome.result()).isEqualTo(PrepareOutcome.Result.CONFLICT);
        assertThat(outcome.holderPid()).isEqualTo(outsider.pid());
        assertThat(outcome.path()).isEqualTo(contended.toString());
        assertThat(outcome.lock().getFd()).isEqualTo(4);
        assertThat(outcome.locksHeld()).isZero();
        assertThat(locksOn(free)).as("the lock taken before the conflict was released").isEmpty();
        assertNoLocksOf(stub.pid(), free);
    }

    @Test
    void nonBlockingConflictNamesFlockHolder() throws Exception {
        outsiderHolds(LockKind.FLOCK);
        PrepareOutcome outcome = stub.prepare(wanted(LockKind.FLOCK), false, deadline());
        assertThat(outcome.result()).isEqualTo(PrepareOutcome.Result.CONFLICT);
        assertThat(outcome.holderPid()).isEqualTo(outsider.pid());
        assertThat(locksOn(free)).isEmpty();
    }

    @Test
    void nonBlockingConflictOnOfdLock() throws Exception {
        outsiderHolds(LockKind.OFD);
        PrepareOutcome outcome = stub.prepare(wanted(LockKind.OFD), false, deadline());
        assertThat(outcome.result()).isEqualTo(PrepareOutcome.Result.CONFLICT);
        // The kernel does not say which process an OFD lock belongs to (F_OFD_GETLK gives -1).
        assertThat(outcome.holderPid()).isIn(-1, outsider.pid());
        assertThat(locksOn(free)).isEmpty();
    }

    @Test
    void blockingPrepareSucceedsWhenTheHolderLetsGo() throws Exception {
        outsiderHolds(LockKind.POSIX);
        Instant deadline = Instant.now().plus(Duration.ofSeconds(30));
        CompletableFuture<PrepareOutcome> waiting = CompletableFuture.supplyAsync(() -> {
            try {
                return stub.prepare(wanted(LockKind.POSIX), true, deadline);
            } catch (Exception e) {
                throw new IllegalStateException(e);
            }
        }, executor);
        awaitWaitingFor(waiting);
        outsider.release(false, deadline());

        PrepareOutcome outcome = waiting.get(60, TimeUnit.SECONDS);
        assertThat(outcome.result()).isEqualTo(PrepareOutcome.Result.PREPARED);
        assertThat(locksOn(contended)).singleElement().satisfies(e -> assertThat(e.pid()).isEqualTo(stub.pid()));
    }

    @Test
    void blockingPrepareTimesOutNamingTheHolder() throws Exception {
        outsiderHolds(LockKind.POSIX);
        PrepareOutcome outcome = stub.prepare(wanted(LockKind.POSIX), true, Instant.now().plusMillis(500));
        assertThat(outcome.result()).isEqualTo(PrepareOutcome.Result.TIMEOUT);
        assertThat(outcome.holderPid()).isEqualTo(outsider.pid());
        assertThat(outcome.message()).contains(contended.toString()).contains("pid " + outsider.pid());
        assertThat(locksOn(free)).isEmpty();
        assertNoLocksOf(stub.pid(), free);

        outsider.release(false, deadline());
        assertThat(stub.prepare(wanted(LockKind.POSIX), false, deadline()).prepared())
                .as("after a timeout the stub can prepare again").isTrue();
    }

    @Test
    void abortCutsIntoAWaitingPrepare() throws Exception {
        outsiderHolds(LockKind.POSIX);
        CompletableFuture<PrepareOutcome> waiting = CompletableFuture.supplyAsync(() -> {
            try {
                return stub.prepare(wanted(LockKind.POSIX), true, Instant.now().plus(Duration.ofMinutes(5)));
            } catch (Exception e) {
                throw new IllegalStateException(e);
            }
        }, executor);
        awaitWaitingFor(waiting);

        stub.release(false, deadline());

        assertThat(stub.process().isAlive()).isFalse();
        assertThatThrownBy(() -> waiting.get(60, TimeUnit.SECONDS))
                .hasRootCauseInstanceOf(java.nio.channels.AsynchronousCloseException.class)
                .hasMessageContaining("pid " + stub.pid());
        assertNoLocksOf(stub.pid(), free);
    }
}
