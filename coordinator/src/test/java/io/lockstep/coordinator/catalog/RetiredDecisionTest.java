package io.lockstep.coordinator.catalog;

import io.lockstep.agent.server.OpWatch;
import io.lockstep.coordinator.op.CoordinatorContext;
import io.lockstep.coordinator.store.CheckpointStore;
import io.lockstep.coordinator.store.FileCheckpointStore;
import io.lockstep.coordinator.testing.TestCheckpoints;
import io.lockstep.zk.testing.ZkTestRoot;
import io.lockstep.proto.OpContext;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Path;
import java.time.Clock;
import java.time.Duration;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.atomic.AtomicReference;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

/**
 * Retention removes decided op records. An agent that was cut off while that happened (a restore
 * target whose prepared stubs hold locks) must still end its part when it reconnects and finds
 * neither the decision nor the op, instead of waiting for ever.
 */
class RetiredDecisionTest {
    @RegisterExtension
    final ZkTestRoot root = new ZkTestRoot();
    private final ScheduledExecutorService timer = Executors.newSingleThreadScheduledExecutor();

    @TempDir
    Path dir;

    @AfterEach
    void stop() throws Exception {
        timer.shutdownNow();
    }

    @Test
    void anAgentThatFindsItsOpRetiredByRetentionEndsItsPartAsAborted() throws Exception {
        CheckpointStore store = new FileCheckpointStore(dir.resolve("store"));
        TestCheckpoints checkpoints = new TestCheckpoints(root.zk(), root.layout(), store);
        checkpoints.abortedLeftover("app", "ckpt-000001", 1, "h2");
        checkpoints.commit("app", "ckpt-000002", 2, "h1");
        Catalog.Retention retention = new Catalog(CoordinatorContext.create(root.zk(), root.layout(), store,
                Clock.systemUTC())).retain("app", 1);
        assertThat(retention.removedOpRecords()).as("the ABORT record h2 never read").contains("ckpt-000001");

        // h2 reconnects and looks for the decision of the op it took part in.
        AtomicReference<OpWatch.Verdict> verdict = new AtomicReference<>();
        OpContext op = OpContext.newBuilder().setGroup("app").setOpId("ckpt-000001").setEpoch(1).build();
        try (OpWatch watch = new OpWatch(root.zk(), root.layout(), op, "h2", Duration.ofSeconds(4), timer, false,
                verdict::set)) {
            watch.start(Duration.ofMinutes(10));
            await("h2 ends its part of the retired op").atMost(Duration.ofSeconds(20)).until(() -> verdict.get() != null);
        }
        assertThat(verdict.get().committed()).isFalse();
        assertThat(verdict.get().reason()).contains("removed by retention");
    }
}
