package io.lockstep.coordinator.checkpoint;

import io.lockstep.coordinator.agents.AgentDirectory.Member;
import io.lockstep.coordinator.catalog.Catalog;
import io.lockstep.coordinator.op.CheckpointResult;
import io.lockstep.coordinator.op.FailureReason;
import io.lockstep.coordinator.op.OperationFailedException;
import io.lockstep.coordinator.op.OperationListener;
import io.lockstep.coordinator.testing.Invariants;
import io.lockstep.coordinator.testing.LocalCluster;
import io.lockstep.coordinator.testing.ProcLocksSnapshot;
import io.lockstep.proto.CatalogEntry;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.awaitility.Awaitility.await;

/**
 * Durable membership (docs/DESIGN.md, "Processes in a group"): a host is a member of a group while
 * the group has processes there, whether or not its agent runs, and a checkpoint includes every
 * member or none.
 */
class MembershipTest {
    private LocalCluster cluster;

    @AfterEach
    void tearDown() throws Exception {
        if (cluster != null) {
            cluster.close();
        }
    }

    @Test
    void aMemberWhoseAgentStoppedAbortsTheCheckpointNamingItAndLatestStays() throws Exception {
        cluster = LocalCluster.start("h1", "h2");
        Path shared = cluster.dir().resolve("shared");
        Files.createDirectories(shared);
        String data = shared.resolve("data").toString();
        int holder = cluster.run("h1", "app", LocalCluster.worker("fd", "500", data, "lock", "posix", "write", "500", "0",
                "100", "ready", "sleep"));
        cluster.awaitReady("h1", "app", holder);
        int waiter = cluster.run("h2", "app", LocalCluster.worker("fd", "500", data, "ready", "lock", "posix", "write",
                "500", "0", "10", "sleep"));
        cluster.awaitReady("h2", "app", waiter);
        await("pid " + waiter + " on h2 waits for the lock pid " + holder + " on h1 holds").atMost(Duration.ofSeconds(10))
                .until(() -> ProcLocksSnapshot.read().waitingOf(waiter).size() == 1);
        CheckpointResult whole = new CheckpointOperation(cluster.coordinator(), CheckpointOptions.defaults(),
                OperationListener.SILENT).run("app");
        assertThat(whole.hosts()).containsExactly("h1", "h2");

        cluster.stopAgent("h2");

        assertThat(ProcessHandle.of(waiter)).as("h2's waiter outlives its agent").hasValueSatisfying(
                process -> assertThat(process.isAlive()).isTrue());
        assertThat(cluster.coordinator().directory().membersWithLiveness("app"))
                .containsExactly(new Member("h1", true), new Member("h2", false));
        assertThatThrownBy(() -> new CheckpointOperation(cluster.coordinator(), CheckpointOptions.defaults(),
                OperationListener.SILENT).run("app"))
                .isInstanceOfSatisfying(OperationFailedException.class, e -> {
                    assertThat(e.reason()).isEqualTo(FailureReason.AGENT_UNAVAILABLE);
                    assertThat(e.hostId()).contains("h2");
                    assertThat(e.getMessage()).contains("host h2 still has processes of the group, but no live agent");
                });
        Catalog catalog = new Catalog(cluster.coordinator());
        assertThat(catalog.list("app")).extracting(CatalogEntry::getCheckpointId).containsExactly(whole.checkpointId());
        assertThat(catalog.latestId("app")).contains(whole.checkpointId());
        assertThat(Invariants.decisions(cluster, "app")).as("no operation was opened without h2").hasSize(1);
        Invariants.assertNothingFrozen(cluster);

        // The operator's explicit choice: h2 is dropped, and the next checkpoint is h1's alone.
        assertThat(cluster.coordinator().directory().dropMember("app", "h2")).isTrue();
        assertThat(new CheckpointOperation(cluster.coordinator(), CheckpointOptions.defaults(), OperationListener.SILENT)
                .run("app").hosts()).containsExactly("h1");
        // h2's agent comes back, finds the group's process and makes h2 a member again.
        cluster.startAgent("h2");
        assertThat(cluster.coordinator().directory().membersWithLiveness("app"))
                .containsExactly(new Member("h1", true), new Member("h2", true));
    }

    @Test
    void membershipSurvivesAnAgentRestartAndEndsWhenTheLastProcessExits() throws Exception {
        cluster = LocalCluster.start("h1");
        Path counter = cluster.dir().resolve("counter");
        int first = cluster.run("h1", "app", LocalCluster.worker("ready", "tick", counter.toString()));
        cluster.awaitReady("h1", "app", first);
        int second = cluster.run("h1", "app", LocalCluster.worker("ready", "tick", counter + "-2"));
        cluster.awaitReady("h1", "app", second);

        cluster.stopAgent("h1");
        assertThat(cluster.coordinator().directory().membersWithLiveness("app"))
                .as("a clean agent stop keeps the membership").containsExactly(new Member("h1", false));
        cluster.startAgent("h1");
        ProcessHandle.of(first).ifPresent(ProcessHandle::destroyForcibly);
        await("pid " + first + " gone").atMost(Duration.ofSeconds(10)).until(() -> ProcessHandle.of(first).isEmpty()
                || !ProcessHandle.of(first).get().isAlive());

        assertThat(cluster.coordinator().directory().members("app")).as("one process is left").containsExactly("h1");
        ProcessHandle.of(second).ifPresent(ProcessHandle::destroyForcibly);
        await("h1's membership of app ends after its last process exits").atMost(Duration.ofSeconds(20))
                .until(() -> cluster.coordinator().directory().members("app").isEmpty());
    }
}
