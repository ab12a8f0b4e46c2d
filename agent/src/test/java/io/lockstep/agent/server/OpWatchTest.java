package io.lockstep.agent.server;

import io.lockstep.proto.OpContext;
import io.lockstep.zk.Decision;
import io.lockstep.zk.Decisions;
import io.lockstep.zk.ZkClients;
import io.lockstep.zk.ZkLayout;
import org.apache.curator.framework.CuratorFramework;
import org.apache.curator.test.TestingServer;
import org.apache.zookeeper.CreateMode;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

import java.time.Duration;
import java.util.List;
import java.util.UUID;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

/**
 * Rules (docs/DESIGN.md, "Applications never stay frozen forever"): the watchdog reports exactly one
 * verdict, and only when acting on it is safe — a decision exists, or it wrote ABORT itself (owner
 * gone, maximum time passed), or its session must have expired.
 */
class OpWatchTest {
    private static final Duration SESSION = Duration.ofSeconds(4);

    private TestingServer server;
    private CuratorFramework zk;
    private ZkLayout layout;
    private ScheduledExecutorService timer;
    private OpContext op;
    private final List<OpWatch.Verdict> verdicts = new CopyOnWriteArrayList<>();

    @BeforeEach
    void start() throws Exception {
        server = new TestingServer(true);
        zk = ZkClients.connect(server.getConnectString(), SESSION, Duration.ofSeconds(2));
        layout = new ZkLayout("/lockstep-test-" + UUID.randomUUID());
        timer = Executors.newScheduledThreadPool(2);
        op = OpContext.newBuilder().setGroup("app").setOpId("ckpt-1").setEpoch(1).build();
        zk.create().creatingParentsIfNeeded().forPath(layout.op("app", "ckpt-1"));
        zk.create().withMode(CreateMode.EPHEMERAL).forPath(layout.owner("app", "ckpt-1"));
    }

    @AfterEach
    void stop() throws Exception {
        timer.shutdownNow();
        zk.close();
        server.close();
    }

    private OpWatch watch(boolean actOnSessionLoss, Duration maxTime) {
        OpWatch watch = new OpWatch(zk, layout, op, "h1", SESSION, timer, actOnSessionLoss, verdicts::add);
        watch.start(maxTime);
        return watch;
    }

    private Decision standing() throws Exception {
        return new Decisions(zk, layout).read("app", "ckpt-1").orElseThrow();
    }

    @Test
    void aCommitWrittenByTheCoordinatorIsReportedOnce() throws Exception {
        try (OpWatch ignored = watch(true, Duration.ofMinutes(1))) {
            new Decisions(zk, layout).decide("app", "ckpt-1", Decision.commit());

            await("the watch reports the commit").until(() -> !verdicts.isEmpty());
            zk.delete().forPath(layout.owner("app", "ckpt-1"));
            assertThat(verdicts).singleElement().satisfies(v -> assertThat(v.committed()).isTrue());
            assertThat(standing().isCommit()).as("the decision never changes").isTrue();
        }
    }

    @Test
    void anOwnerThatVanishesBeforeADecisionMakesTheWatchWriteAbort() throws Exception {
        try (OpWatch ignored = watch(true, Duration.ofMinutes(1))) {
            zk.delete().forPath(layout.owner("app", "ckpt-1"));

            await("the watch aborts the orphaned op").until(() -> !verdicts.isEmpty());
            assertThat(verdicts).singleElement().satisfies(v -> assertThat(v.committed()).isFalse());
            assertThat(standing().isCommit()).isFalse();
            assertThat(standing().reason()).contains("owner node gone").contains("host h1");
        }
    }

    @Test
    void theMaximumTimeAbortsAnOpNobodyDecided() throws Exception {
        try (OpWatch ignored = watch(true, Duration.ofMillis(300))) {
            await("the maximum time passes").until(() -> !verdicts.isEmpty());

            assertThat(standing().isCommit()).isFalse();
            assertThat(standing().reason()).contains("maximum time of 300 ms for ckpt-1 passed on host h1");
        }
    }

    @Test
    void aWatchThatLostItsDecisionRaceReportsTheStandingCommit() throws Exception {
        new Decisions(zk, layout).decide("app", "ckpt-1", Decision.commit());

        try (OpWatch ignored = watch(true, Duration.ofMillis(1))) {
            await("the watch reports").until(() -> !verdicts.isEmpty());

            assertThat(verdicts).singleElement().satisfies(v -> assertThat(v.committed())
                    .as("an ABORT that lost the create-once race reports the COMMIT that stands").isTrue());
        }
    }

    @Test
    void aLostSessionIsReportedWithoutDecisionOnlyWhenAskedTo() throws Exception {
        try (OpWatch ignored = watch(true, Duration.ofMinutes(1))) {
            server.stop();

            await("the session must have expired").atMost(Duration.ofSeconds(40)).until(() -> !verdicts.isEmpty());
            assertThat(verdicts).singleElement().satisfies(v -> {
                assertThat(v.decision()).isEmpty();
                assertThat(v.reason()).contains("session of host h1 lost");
            });
        }
    }

    @Test
    void aClosedWatchReportsNothing() throws Exception {
        watch(true, Duration.ofMinutes(1)).close();

        new Decisions(zk, layout).decide("app", "ckpt-1", Decision.commit());

        OpWatch second = watch(false, Duration.ofMinutes(1));
        await("a second watch sees the decision").until(() -> verdicts.size() == 1);
        second.close();
        assertThat(verdicts).hasSize(1);
    }
}
