package io.lockstep.coordinator.checkpoint;

import io.lockstep.coordinator.catalog.Catalog;
import io.lockstep.coordinator.op.CoordinatorContext;
import io.lockstep.coordinator.op.FailureReason;
import io.lockstep.coordinator.op.OperationFailedException;
import io.lockstep.coordinator.op.OperationListener;
import io.lockstep.coordinator.testing.Invariants;
import io.lockstep.coordinator.testing.LocalCluster;
import io.lockstep.coordinator.testing.ZooKeeperLostAfterCommit;
import io.lockstep.zk.Decision;
import io.lockstep.zk.Decisions;
import io.lockstep.zk.ZkClients;
import org.apache.curator.framework.CuratorFramework;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

import java.nio.file.Path;
import java.time.Clock;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.atomic.AtomicReference;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.catchThrowableOfType;
import static org.awaitility.Awaitility.await;

/**
 * The commit multi is applied, its answer is lost, and ZooKeeper stays unreachable past the
 * client's retries: the outcome is unknown to the coordinator, so it must undo nothing — the
 * checkpoint ZooKeeper records as COMMIT and as latest keeps its manifests.
 */
class LostCommitReplyTest {
    private LocalCluster cluster;
    private CuratorFramework losingZk;

    @AfterEach
    void tearDown() throws Exception {
        if (losingZk != null) {
            losingZk.close();
        }
        if (cluster != null) {
            cluster.close();
        }
    }

    @Test
    void aCommitWhoseAnswerIsLostWithZooKeeperKeepsItsManifestsAndSaysTheOutcomeIsUnknown() throws Exception {
        cluster = LocalCluster.start("h1", "h2");
        for (String host : List.of("h1", "h2")) {
            Path counter = cluster.dir().resolve("counter-" + host);
            int pid = cluster.run(host, "app", LocalCluster.worker("ready", "tick", counter.toString()));
            cluster.awaitReady(host, "app", pid);
        }
        CoordinatorContext real = cluster.coordinator();
        // The losing coordinator's own client gives up on a stopped server after 1 s per attempt (not
        // the cluster's 5 s): its retries still run out while ZooKeeper is down, in seconds.
        losingZk = ZkClients.connect(cluster.zkConnect(), LocalCluster.SESSION_TIMEOUT, Duration.ofSeconds(1));
        CoordinatorContext losing = CoordinatorContext.create(ZooKeeperLostAfterCommit.wrap(losingZk, () -> cluster.zkServer().stop()),
                real.layout(), real.store(), Clock.systemUTC());
        AtomicReference<String> opId = new AtomicReference<>();
        OperationListener opened = new OperationListener() {
            @Override
            public void opened(String kind, String group, String op, long epoch) {
                opId.set(op);
            }
        };

        OperationFailedException failure = catchThrowableOfType(OperationFailedException.class,
                () -> new CheckpointOperation(losing, CheckpointOptions.defaults(), opened).run("app"));

        cluster.zkServer().restart();
        await("the coordinator's ZooKeeper client is back").atMost(Duration.ofSeconds(60))
                .ignoreExceptions().until(() -> new Decisions(real.zk(), real.layout()).read("app", opId.get()).isPresent());
        assertThat(new Decisions(real.zk(), real.layout()).read("app", opId.get())).contains(Decision.commit());
        assertThat(new Catalog(real).latestId("app")).contains(opId.get());
        Invariants.assertCatalogConsistent(cluster);
        assertThat(failure).as("the checkpoint's report").isNotNull();
        assertThat(failure.reason()).isEqualTo(FailureReason.ZK_UNAVAILABLE);
        assertThat(failure.getMessage()).contains("whether " + opId.get() + " committed is unknown");
        Invariants.assertNothingFrozen(cluster);
    }
}
