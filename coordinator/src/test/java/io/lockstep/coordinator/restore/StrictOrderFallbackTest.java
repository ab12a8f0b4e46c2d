package io.lockstep.coordinator.restore;

import io.lockstep.coordinator.checkpoint.CheckpointOperation;
import io.lockstep.coordinator.checkpoint.CheckpointOptions;
import io.lockstep.coordinator.op.OperationListener;
import io.lockstep.coordinator.op.RestoreResult;
import io.lockstep.coordinator.testing.Invariants;
import io.lockstep.coordinator.testing.LocalCluster;
import io.lockstep.coordinator.testing.ProcLocksSnapshot;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

import java.io.BufferedReader;
import java.io.InputStreamReader;
import java.io.OutputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.concurrent.atomic.AtomicBoolean;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

/**
 * The strict-order fallback gives back every lock the fast path took before its ordered run. An
 * outsider holds A and then waits for B; h1's stub took B on the fast path, h2's stub needs A (so
 * the fast path failed on h2). Were h1 to keep B until its own ordered round, which comes after
 * A's, h2 would wait for A, the outsider for B, both until the deadline. Both hosts share one file
 * on a tmpfs export whose source reads server:/export (counted as a network file system), so A
 * (bytes 0-9) comes before B (bytes 10-19) in the global order.
 */
class StrictOrderFallbackTest {
    /** Holds A, then on a line on stdin waits for B; once it has B, lets go of both. */
    private static final String OUTSIDER = String.join("\n",
            "import fcntl, sys, time",
            "f = open(sys.argv[1], 'r+')",
            "fcntl.lockf(f, fcntl.LOCK_EX | fcntl.LOCK_NB, 10, 0)",
            "print('HOLDING A', flush=True)",
            "sys.stdin.readline()",
            "fcntl.lockf(f, fcntl.LOCK_EX, 10, 10)",
            "print('GOT B', flush=True)",
            "fcntl.lockf(f, fcntl.LOCK_UN, 0, 0)",
            "time.sleep(1000000)");

    private LocalCluster cluster;
    private Path export;
    private Process outsider;

    @BeforeEach
    void setUp() throws Exception {
        cluster = LocalCluster.start();
        export = cluster.startAgentsSharingExport("export", "h1", "h2");
    }

    @AfterEach
    void tearDown() throws Exception {
        try {
            if (outsider != null) {
                outsider.destroyForcibly().waitFor();
            }
        } finally {
            cluster.close();
        }
    }

    @Test
    void theFastPathsLocksAreGivenBackBeforeTheOrderedRunSoAnOutsiderWaitingForOneDoesNotDeadlockIt() throws Exception {
        Path file = Files.writeString(export.resolve("shared"), "0123456789abcdefghij");
        int holderOfB = cluster.run("h1", "app", LocalCluster.worker("fd", "500", file.toString(),
                "lock", "posix", "write", "500", "10", "10", "ready", "sleep"));
        int holderOfA = cluster.run("h2", "app", LocalCluster.worker("fd", "500", file.toString(),
                "lock", "posix", "write", "500", "0", "10", "ready", "sleep"));
        cluster.awaitReady("h1", "app", holderOfB);
        cluster.awaitReady("h2", "app", holderOfA);
        new CheckpointOperation(cluster.coordinator(), CheckpointOptions.defaults(), OperationListener.SILENT).run("app");
        cluster.killApplications();
        ProcLocksSnapshot.FileId inode = ProcLocksSnapshot.fileIdOf(file);
        await("the killed processes' locks are gone").atMost(Duration.ofSeconds(10))
                .until(() -> !ProcLocksSnapshot.heldOn(inode));

        outsider = new ProcessBuilder("python3", "-c", OUTSIDER, file.toString()).redirectErrorStream(true).start();
        BufferedReader said = new BufferedReader(new InputStreamReader(outsider.getInputStream(), StandardCharsets.UTF_8));
        assertThat(said.readLine()).isEqualTo("HOLDING A");
        int outsiderPid = (int) outsider.pid();
        AtomicBoolean outsiderWaitsForB = new AtomicBoolean();
        OperationListener afterH1sFastPath = new OperationListener() {
            @Override
            public void hostDone(String phase, String hostId, int done, int total, String detail) {
                if (phase.equals("prepare") && hostId.equals("h1") && detail.equals("ok")) {
                    try {
                        OutputStream toOutsider = outsider.getOutputStream();
                        toOutsider.write('\n');
                        toOutsider.flush();
                        await("the outsider waits for B, which h1's stub took on the fast path")
                                .atMost(Duration.ofSeconds(10))
                                .until(() -> ProcLocksSnapshot.read().waitingOf(outsiderPid).size() == 1);
                        outsiderWaitsForB.set(true);
                    } catch (java.io.IOException e) {
                        throw new java.io.UncheckedIOException(e);
                    }
                }
            }
        };

        RestoreResult restored = new RestoreOperation(cluster.coordinator(), RestoreOptions.defaults()
                .withAllowRoot(true).withTimeout(Duration.ofSeconds(15)), afterH1sFastPath).run("app");

        assertThat(outsiderWaitsForB).as("the outsider waited for B while h1's stub held it").isTrue();
        assertThat(restored.fastPath()).isFalse();
        assertThat(said.readLine()).isEqualTo("GOT B");
        int newHolderOfB = restored.processesByHost().get("h1").get(0).getNewPid();
        int newHolderOfA = restored.processesByHost().get("h2").get(0).getNewPid();
        cluster.awaitReady("h1", "app", newHolderOfB);
        cluster.awaitReady("h2", "app", newHolderOfA);
        assertThat(ProcLocksSnapshot.read().heldBy(newHolderOfB)).hasSize(1);
        assertThat(ProcLocksSnapshot.read().heldBy(newHolderOfA)).hasSize(1);
        Invariants.assertAll(cluster);
    }
}
