package io.lockstep.coordinator.restore;

import io.lockstep.agent.server.ManagedGroup;
import io.lockstep.coordinator.checkpoint.CheckpointOperation;
import io.lockstep.coordinator.checkpoint.CheckpointOptions;
import io.lockstep.coordinator.op.OperationFailedException;
import io.lockstep.coordinator.op.OperationListener;
import io.lockstep.coordinator.op.RestoreResult;
import io.lockstep.coordinator.testing.Invariants;
import io.lockstep.coordinator.testing.LocalCluster;
import io.lockstep.coordinator.testing.PhaseTrigger;
import io.lockstep.proto.GroupStatus;
import io.lockstep.proto.StatusRequest;
import io.lockstep.zk.Decision;
import io.lockstep.zk.Decisions;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicReference;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.awaitility.Awaitility.await;

/**
 * A restore that ends (here: an ABORT in ZooKeeper, as the max timer, an owner loss or an abort
 * after a stage timeout write it) while a Stage is still starting its stubs: the stubs that start
 * afterwards must not join the ended session, where nobody would release or end them, and stay in
 * the group's cgroup. The stub is held while it starts by freezing the group's cgroup, which it
 * enters before it says hello to its agent.
 */
class StageIntoEndedSessionTest {
    private LocalCluster cluster;
    private Path freezeFile;

    @AfterEach
    void tearDown() throws Exception {
        if (freezeFile != null) {
            Files.writeString(freezeFile, "0");
        }
        if (cluster != null) {
            cluster.close();
        }
    }

    @Test
    void stubsStartedAfterTheRestoreEndedAreEndedAndLeaveTheGroupsCgroup() throws Exception {
        cluster = LocalCluster.start("h1");
        cluster.run("h1", "app", List.of("/bin/sleep", "600"));
        new CheckpointOperation(cluster.coordinator(), CheckpointOptions.defaults(), OperationListener.SILENT).run("app");
        cluster.killApplications();
        ManagedGroup group = cluster.agent("h1").groups().open("app");
        freezeFile = group.cgroup().path().orElseThrow().resolve("cgroup.freeze");
        AtomicReference<String> opId = new AtomicReference<>();
        OperationListener opened = new OperationListener() {
            @Override
            public void opened(String kind, String g, String op, long epoch) {
                opId.set(op);
            }
        };
        PhaseTrigger holdStubs = new PhaseTrigger("start:stage", () -> Files.writeString(freezeFile, "1"));
        CompletableFuture<RestoreResult> restore = CompletableFuture.supplyAsync(() -> {
            try {
                return new RestoreOperation(cluster.coordinator(), RestoreOptions.defaults().withAllowRoot(true)
                        .withTimeout(Duration.ofSeconds(40)), opened.and(holdStubs)).run("app");
            } catch (Exception e) {
                throw new java.util.concurrent.CompletionException(e);
            }
        });
        await("a stub entered the frozen group cgroup").atMost(Duration.ofSeconds(30))
                .until(() -> !group.cgroup().pids().isEmpty());

        new Decisions(cluster.coordinator().zk(), cluster.layout()).decide("app", opId.get(),
                Decision.abort("test: the restore ended while its stubs were starting"));
        await("the agent ended the restore session").atMost(Duration.ofSeconds(20))
                .until(() -> !currentOp().equals(opId.get()));
        Files.writeString(freezeFile, "0");

        assertThatThrownBy(() -> restore.get(60, TimeUnit.SECONDS)).isInstanceOf(ExecutionException.class)
                .hasCauseInstanceOf(OperationFailedException.class);
        await("no process is left in the group's cgroup").atMost(Duration.ofSeconds(20))
                .until(() -> group.cgroup().pids().isEmpty());
        assertThat(Invariants.decisions(cluster, "app")).last().satisfies(d -> assertThat(d.isCommit()).isFalse());
        Invariants.assertAll(cluster);
    }

    private String currentOp() throws Exception {
        GroupStatus status = cluster.coordinator().clients()
                .forHost(cluster.coordinator().directory().host("h1").orElseThrow())
                .status(StatusRequest.newBuilder().setGroup("app").build(), Duration.ofSeconds(5))
                .getGroupsList().stream().findFirst().orElse(GroupStatus.getDefaultInstance());
        return status.getCurrentOp();
    }
}
