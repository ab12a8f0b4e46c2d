package io.lockstep.coordinator.faults;

import io.lockstep.coordinator.checkpoint.CheckpointOperation;
import io.lockstep.coordinator.checkpoint.CheckpointOptions;
import io.lockstep.coordinator.op.OperationFailedException;
import io.lockstep.coordinator.op.OperationListener;
import io.lockstep.coordinator.restore.RestoreOperation;
import io.lockstep.coordinator.restore.RestoreOptions;
import io.lockstep.coordinator.testing.GroupUsable;
import io.lockstep.coordinator.testing.Invariants;
import io.lockstep.coordinator.testing.LocalCluster;
import io.lockstep.coordinator.testing.PhaseTrigger;
import io.lockstep.coordinator.testing.ProcLocksSnapshot;
import io.lockstep.proto.GroupStatus;
import io.lockstep.proto.HostRecord;
import io.lockstep.proto.StatusRequest;
import io.lockstep.zk.Decision;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

import java.nio.file.Files;
import java.nio.file.Path;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.time.Duration;
import java.util.List;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.awaitility.Awaitility.await;

/**
 * An agent JVM SIGKILLed in the middle of an operation and started again: before it serves, it
 * reconciles with ZooKeeper — a group its predecessor left frozen is thawed (long before the freeze
 * guard would), a restore its predecessor was part of leaves no stub and no lock — and its
 * {@code status} tells the truth about the group. The next operation commits.
 */
class AgentCrashRecoveryTest {
    /** Far beyond every bounded wait below: a thaw seen within them is the restarted agent's, not the guard's. */
    private static final Duration GUARD_MAX_FROZEN = Duration.ofMinutes(5);

    private LocalCluster cluster;

    @AfterEach
    void tearDown() throws Exception {
        if (cluster != null) {
            cluster.close();
        }
    }

    @Test
    void anAgentRestartedAfterDyingWithItsGroupFrozenThawsItAndReportsItTruthfully() throws Exception {
        cluster = LocalCluster.start("h1");
        cluster.startAgentProcess("h2");
        for (String host : List.of("h1", "h2")) {
            cluster.run(host, "app", List.of("/bin/sleep", "600"));
        }
        PhaseTrigger killH2 = new PhaseTrigger("end:freeze", () -> cluster.killAgentProcess("h2"));
        CheckpointOptions longGuard = new CheckpointOptions(Duration.ofSeconds(60), Duration.ofSeconds(10),
                GUARD_MAX_FROZEN, Duration.ofSeconds(10));
        assertThatThrownBy(() -> new CheckpointOperation(cluster.coordinator(), longGuard, killH2).run("app"))
                .isInstanceOfSatisfying(OperationFailedException.class, e -> assertThat(e.hostId()).contains("h2"));
        assertThat(cluster.cgroups("h2").forGroup("app").isFrozen()).as("h2's group, left behind by its dead agent").isTrue();

        String thawScript = cluster.cgroups("h2").forGroup("app").freezer().thawScript();
        assertThat(freezeGuardsRunning(thawScript)).as("the dead agent's guard, still armed").isNotEmpty();

        Process restarted = cluster.startAgentProcess("h2");

        // Left armed, the old guard would thaw a later checkpoint's freeze in its frozen window.
        assertThat(freezeGuardsRunning(thawScript)).as("freeze guards of h2's group after its agent restarted").isEmpty();
        Invariants.assertNothingFrozen(cluster);
        GroupStatus status = statusOnceRegistered("h2", restarted, "app");
        assertThat(status.getFrozen()).isFalse();
        assertThat(status.getProcesses()).isEqualTo(1);
        assertThat(status.getCurrentOp()).isEmpty();
        assertThat(status.getNewestEpoch()).as("the epoch of the crashed checkpoint").isEqualTo(1);
        assertThat(Invariants.decisions(cluster, "app")).hasSize(1).allMatch(d -> !d.isCommit());
        GroupUsable.checkpointCommits(cluster, "app");
        Invariants.assertAll(cluster);
    }

    @ParameterizedTest(name = "agent killed at {0} of a restore")
    @ValueSource(strings = {"end:stage", "end:prepare"})
    void anAgentKilledDuringARestoreTakesItsStubsAndLocksAlongAndComesBackClean(String boundary) throws Exception {
        cluster = LocalCluster.start("h1");
        cluster.startAgentProcess("h2");
        Path data = Files.createDirectories(cluster.dir().resolve("export")).resolve("data");
        int holder = cluster.run("h2", "app", LocalCluster.worker("fd", "500", data.toString(), "lock", "posix", "write",
                "500", "0", "10", "ready", "sleep"));
        cluster.run("h1", "app", List.of("/bin/sleep", "600"));
        cluster.awaitReady("h2", "app", holder);
        new CheckpointOperation(cluster.coordinator(), CheckpointOptions.defaults(), OperationListener.SILENT).run("app");
        cluster.killApplications();
        long inode = ProcLocksSnapshot.inodeOf(data);
        await("the checkpointed holder's lock is gone with it").atMost(Duration.ofSeconds(20))
                .until(() -> !ProcLocksSnapshot.heldOnInode(inode));

        // At end:prepare h2's stub holds the lock and prepared/h2 outlives the agent by a session
        // timeout: only the pre-commit check of the agents keeps this restore from committing.
        PhaseTrigger killH2 = new PhaseTrigger(boundary, () -> cluster.killAgentProcess("h2"));
        assertThatThrownBy(() -> new RestoreOperation(cluster.coordinator(), RestoreOptions.defaults().withAllowRoot(true),
                killH2).run("app"))
                .isInstanceOfSatisfying(OperationFailedException.class, e -> assertThat(e.hostId()).contains("h2"));
        Invariants.assertNoStubs(cluster);
        await("the dead agent's stub took its lock along").atMost(Duration.ofSeconds(30))
                .until(() -> !ProcLocksSnapshot.heldOnInode(inode));

        Process restarted = cluster.startAgentProcess("h2");

        GroupStatus status = statusOnceRegistered("h2", restarted, "app");
        assertThat(status.getProcesses()).as("no stub, no process left on h2").isZero();
        assertThat(status.getStubs()).isZero();
        assertThat(status.getCurrentOp()).isEmpty();
        assertThat(status.getFrozen()).isFalse();
        List<Decision> decisions = Invariants.decisions(cluster, "app");
        assertThat(decisions.get(decisions.size() - 1).isCommit()).as("the interrupted restore").isFalse();
        GroupUsable.restoreCommits(cluster, "app");
        await("the restored holder holds its lock again").atMost(Duration.ofSeconds(30))
                .until(() -> ProcLocksSnapshot.heldOnInode(inode));
        Invariants.assertAll(cluster);
    }

    /** The group's status from the restarted agent, once its registration (not its predecessor's) is in ZooKeeper. */
    private GroupStatus statusOnceRegistered(String host, Process agent, String group) throws Exception {
        await("the restarted agent on " + host + " is the registered one").atMost(GroupUsable.BOUND)
                .until(() -> cluster.coordinator().directory().host(host).map(HostRecord::getPid).orElse(0) == agent.pid());
        HostRecord record = cluster.coordinator().directory().host(host).orElseThrow();
        List<GroupStatus> groups = cluster.coordinator().clients().forHost(record)
                .status(StatusRequest.newBuilder().setGroup(group).build(), Duration.ofSeconds(30)).getGroupsList();
        assertThat(groups).as("status of " + group + " on " + host).hasSize(1);
        return groups.get(0);
    }


    /** Live guard shells (`sh -c "sleep …; <thaw script>; exit 0"`) of the group whose thaw script this is. */
    private static List<Long> freezeGuardsRunning(String thawScript) {
        return ProcessHandle.allProcesses().filter(process -> {
            try {
                String cmdline = Files.readString(Path.of("/proc", Long.toString(process.pid()), "cmdline"));
                return cmdline.startsWith("/bin/sh\0-c\0sleep ") && cmdline.contains(thawScript);
            } catch (IOException | UncheckedIOException exited) {
                return false;
            }
        }).map(ProcessHandle::pid).toList();
    }
}
