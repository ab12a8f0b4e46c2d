package io.lockstep.coordinator.faults;

import io.lockstep.coordinator.checkpoint.CheckpointOperation;
import io.lockstep.coordinator.checkpoint.CheckpointOptions;
import io.lockstep.coordinator.op.CheckpointResult;
import io.lockstep.coordinator.op.OperationFailedException;
import io.lockstep.coordinator.op.OperationListener;
import io.lockstep.coordinator.restore.RestoreOperation;
import io.lockstep.coordinator.restore.RestoreOptions;
import io.lockstep.coordinator.op.RestoreResult;
import io.lockstep.coordinator.testing.GroupUsable;
import io.lockstep.coordinator.testing.HeldCapture;
import io.lockstep.coordinator.testing.Invariants;
import io.lockstep.coordinator.testing.LocalCluster;
import io.lockstep.coordinator.testing.PhaseTrigger;
import io.lockstep.coordinator.testing.ProcLocksSnapshot;
import io.lockstep.coordinator.testing.ZkEnsemble;
import io.lockstep.zk.Decision;
import org.apache.curator.framework.state.ConnectionState;
import org.apache.curator.framework.state.ConnectionStateListener;
import org.apache.zookeeper.CreateMode;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestInstance;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.Callable;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.stream.Stream;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

/**
 * Checkpoints and restores on a 3-server ZooKeeper ensemble whose leader, or a follower, or two
 * of three servers die in the middle of a phase. Whatever the operation then does (commit or
 * abort), its report agrees with the decision in ZooKeeper, nothing stays frozen, no stub or
 * restored lock of an aborted restore is left, the catalog lists only checkpoints whose manifests
 * are in the store with their sha256, and the group's next operation commits.
 *
 * <p>One ensemble and one set of agents serve the whole class; every case has a group of its
 * own, and the killed servers come back after each case.
 */
@TestInstance(TestInstance.Lifecycle.PER_CLASS)
class ZooKeeperEnsembleFaultsTest {
    /** The coordinator's give-up time with ZooKeeper gone: a few Curator retries of its calls. */
    private static final Duration OPERATION_BOUND = Duration.ofMinutes(3);

    enum Victim { LEADER, FOLLOWER }

    private ZkEnsemble ensemble;
    private LocalCluster cluster;

    @BeforeAll
    void startEnsemble() throws Exception {
        ensemble = ZkEnsemble.start();
        try {
            cluster = LocalCluster.startOn(ensemble, "h1", "h2");
        } catch (Exception e) {
            ensemble.close();
            throw e;
        }
    }

    @AfterEach
    void bringKilledServersBack() throws Exception {
        ensemble.restoreAll();
    }

    @AfterAll
    void stopEnsemble() throws Exception {
        try {
            if (cluster != null) {
                cluster.close();
            }
        } finally {
            ensemble.close();
        }
    }

    static Stream<Arguments> checkpointPhases() {
        return phases("start:freeze", "start:capture", "end:capture", "start:thaw");
    }

    static Stream<Arguments> restorePhases() {
        return phases("start:validate", "start:stage", "start:prepare", "end:prepare");
    }

    private static Stream<Arguments> phases(String... boundaries) {
        return Stream.of(Victim.values()).flatMap(victim -> Stream.of(boundaries).map(b -> Arguments.of(victim, b)));
    }

    @ParameterizedTest(name = "{0} killed at {1} of a checkpoint")
    @MethodSource("checkpointPhases")
    void aCheckpointSurvivesAServerKilledInAnyPhase(Victim victim, String boundary) throws Exception {
        String group = groupName("ck", victim, boundary);
        cluster.runSleepers(group, "h1", "h2");
        PhaseTrigger kill = new PhaseTrigger(boundary, () -> ensemble.kill(victim == Victim.LEADER
                ? ensemble.leader() : ensemble.follower(cluster.coordinator().zk())));

        Object outcome = outcome(() -> new CheckpointOperation(cluster.coordinator(), CheckpointOptions.defaults(), kill)
                .run(group));

        assertThat(kill.fired()).as("the server was killed at " + boundary + "; the operation ended " + outcome).isTrue();
        ensemble.restoreAll();
        assertNextCheckpointCommitsAndTheFirstTellsTheTruth(group, outcome);
    }

    @ParameterizedTest(name = "{0} killed at {1} of a restore")
    @MethodSource("restorePhases")
    void aRestoreSurvivesAServerKilledInAnyPhase(Victim victim, String boundary) throws Exception {
        String group = groupName("rs", victim, boundary);
        Path data = checkpointAHolderAndKillIt(group);
        PhaseTrigger kill = new PhaseTrigger(boundary, () -> ensemble.kill(victim == Victim.LEADER
                ? ensemble.leader() : ensemble.follower(cluster.coordinator().zk())));

        Object outcome = outcome(() -> restore(group, kill));

        assertThat(kill.fired()).as("the server was killed at " + boundary + "; the operation ended " + outcome).isTrue();
        ensemble.restoreAll();
        assertRestoreEndedCleanlyAndTheGroupIsUsable(group, data, outcome);
    }

    @Test
    void aCheckpointThatLosesQuorumAbortsAndTheAgentsThawWithoutZooKeeper() throws Exception {
        String group = "ck-quorum-lost";
        cluster.runSleepers(group, "h1", "h2");
        // The hosts end the window by themselves: one is held inside its capture so that the quorum is lost
        // while the window is open, then let go (it cannot enter the captured barrier without ZooKeeper).
        HeldCapture held = HeldCapture.ofNextCheckpoint(cluster, group);
        PhaseTrigger loseQuorum = new PhaseTrigger("start:capture", () -> {
            ensemble.loseQuorum();
            held.close();
        });
        CompletableFuture<Object> checkpoint = CompletableFuture.supplyAsync(() -> uncheckedOutcome(() ->
                new CheckpointOperation(cluster.coordinator(), CheckpointOptions.defaults(), loseQuorum).run(group)));

        await("quorum lost during capture").atMost(Duration.ofSeconds(60)).until(() -> loseQuorum.fired() || checkpoint.isDone());
        assertThat(loseQuorum.fired()).as("quorum lost before the checkpoint ended " + (checkpoint.isDone() ? checkpoint.join() : ""))
                .isTrue();
        // No ZooKeeper at all: the agents thaw on their own once their sessions must have expired.
        Invariants.assertNothingFrozen(cluster);
        ensemble.restoreAll();

        Object outcome = checkpoint.get(OPERATION_BOUND.toSeconds(), TimeUnit.SECONDS);
        assertThat(outcome).as("a checkpoint cannot commit with hosts that thawed").isInstanceOf(OperationFailedException.class);
        awaitNoOwner(group);
        assertNextCheckpointCommitsAndTheFirstTellsTheTruth(group, outcome);
    }

    @Test
    void aRestoreThatLosesQuorumDuringPrepareEndsCleanlyOnceQuorumIsBack() throws Exception {
        String group = "rs-quorum-lost";
        Path data = checkpointAHolderAndKillIt(group);
        PhaseTrigger loseQuorum = new PhaseTrigger("start:prepare", ensemble::loseQuorum);
        AtomicBoolean coordinatorSessionLost = new AtomicBoolean();
        ConnectionStateListener sessionWatch = (client, state) -> {
            if (state == ConnectionState.LOST) {
                coordinatorSessionLost.set(true);
            }
        };
        var zk = cluster.coordinator().zk();
        zk.getConnectionStateListenable().addListener(sessionWatch);
        // An ephemeral node of the coordinator's session that nothing deletes: it goes only when the
        // ensemble expires that session, which proves the session was really lost, not just disconnected.
        String probe = zk.create().creatingParentsIfNeeded().withMode(CreateMode.EPHEMERAL)
                .forPath(cluster.zkRoot() + "/session-probe-" + group);
        long sessionBefore = zk.getZookeeperClient().getZooKeeper().getSessionId();
        assertThat(zk.checkExists().forPath(probe).getEphemeralOwner()).isEqualTo(sessionBefore);
        try {
            CompletableFuture<Object> restore = CompletableFuture.supplyAsync(() -> uncheckedOutcome(() ->
                    restore(group, loseQuorum)));
            // Quorum stays lost until every session of the operation has run out: the stubs must
            // then learn the decision from ZooKeeper, not from a coordinator that is still there.
            await("the coordinator's session is lost with the quorum").atMost(GroupUsable.BOUND)
                    .until(() -> coordinatorSessionLost.get() || restore.isDone());
            assertThat(loseQuorum.fired()).as("quorum lost before the restore ended " + (restore.isDone() ? restore.join() : ""))
                    .isTrue();
            assertThat(coordinatorSessionLost).as("the coordinator's client saw its session LOST before the restore ended "
                    + (restore.isDone() ? restore.join() : "")).isTrue();
            ensemble.restoreAll();
            await("the ensemble expires the coordinator's session 0x" + Long.toHexString(sessionBefore)
                    + " (its ephemeral " + probe + " is gone)").atMost(GroupUsable.BOUND)
                    .until(() -> zk.checkExists().forPath(probe) == null);
            Object outcome = restore.get(OPERATION_BOUND.toSeconds(), TimeUnit.SECONDS);
            assertThat(zk.getZookeeperClient().getZooKeeper().getSessionId()).as("the coordinator's session once quorum is back")
                    .isNotEqualTo(sessionBefore);
            awaitNoOwner(group);
            assertRestoreEndedCleanlyAndTheGroupIsUsable(group, data, outcome);
        } finally {
            zk.getConnectionStateListenable().removeListener(sessionWatch);
        }
    }

    private static String groupName(String kind, Victim victim, String boundary) {
        return kind + "-" + victim.name().toLowerCase() + "-" + boundary.replace(':', '-');
    }

    /** Processes that only need to exist (and be frozen, captured, restarted): no JVM start per case. */
    /** A committed checkpoint of a write-lock holder on h1 and a sleeper on h2, whose processes are then gone. */
    private Path checkpointAHolderAndKillIt(String group) throws Exception {
        Path data = Files.createDirectories(cluster.dir().resolve("export")).resolve(group + ".data");
        int holder = cluster.run("h1", group, LocalCluster.worker("fd", "500", data.toString(), "lock", "posix", "write",
                "500", "0", "10", "ready", "sleep"));
        cluster.run("h2", group, List.of("/bin/sleep", "600"));
        cluster.awaitReady("h1", group, holder);
        new CheckpointOperation(cluster.coordinator(), CheckpointOptions.defaults(), OperationListener.SILENT).run(group);
        for (String host : List.of("h1", "h2")) {
            cluster.cgroups(host).forGroup(group).killAll(Duration.ofSeconds(10));
        }
        ProcLocksSnapshot.FileId inode = ProcLocksSnapshot.fileIdOf(data);
        await("the checkpointed holder's lock is gone with it").atMost(Duration.ofSeconds(20))
                .until(() -> !ProcLocksSnapshot.heldOn(inode));
        return data;
    }

    private RestoreResult restore(String group, OperationListener listener) throws Exception {
        return new RestoreOperation(cluster.coordinator(), RestoreOptions.defaults().withAllowRoot(true), listener)
                .run(group);
    }

    private void assertNextCheckpointCommitsAndTheFirstTellsTheTruth(String group, Object outcome) throws Exception {
        CheckpointResult next = GroupUsable.checkpointCommits(cluster, group);
        List<Decision> decisions = Invariants.decisions(cluster, group);
        assertThat(decisions).as("every op of " + group + " is decided once the next one ran").hasSize(opCount(group));
        assertThat(decisions.get(decisions.size() - 1)).isEqualTo(Decision.commit());
        if (outcome instanceof CheckpointResult committed) {
            assertThat(decisions.get(0)).as("the reported commit of " + committed.checkpointId()).isEqualTo(Decision.commit());
            assertThat(catalog(group)).contains(committed.checkpointId(), next.checkpointId());
        } else {
            assertThat(decisions.get(0).isCommit()).as("the reported failure " + outcome).isFalse();
            assertThat(catalog(group)).containsExactly(next.checkpointId());
        }
        Invariants.assertAll(cluster);
    }

    private void assertRestoreEndedCleanlyAndTheGroupIsUsable(String group, Path data, Object outcome) throws Exception {
        ProcLocksSnapshot.FileId inode = ProcLocksSnapshot.fileIdOf(data);
        Invariants.assertNoStubs(cluster);
        List<Decision> decisions;
        if (outcome instanceof RestoreResult) {
            decisions = Invariants.decisions(cluster, group);
            assertThat(decisions.get(decisions.size() - 1)).as("the reported restore commit").isEqualTo(Decision.commit());
        } else {
            await("an aborted restore leaves no lock on " + data).atMost(Duration.ofSeconds(30))
                    .until(() -> !ProcLocksSnapshot.heldOn(inode));
            RestoreResult again = GroupUsable.restoreCommits(cluster, group);
            decisions = Invariants.decisions(cluster, group);
            assertThat(decisions.get(1).isCommit()).as("the reported restore failure " + outcome).isFalse();
            assertThat(decisions.get(decisions.size() - 1)).as("the restore " + again.opId()).isEqualTo(Decision.commit());
        }
        await("the restored holder holds its lock on " + data).atMost(Duration.ofSeconds(30))
                .until(() -> ProcLocksSnapshot.heldOn(inode));
        Invariants.assertAll(cluster);
        GroupUsable.checkpointCommits(cluster, group);
        assertThat(Invariants.decisions(cluster, group)).hasSize(opCount(group));
        Invariants.assertAll(cluster);
    }

    /**
     * Where ZooKeeper could take no ABORT, the next operation's stale-op clean-up decides the op,
     * but only once its owner node is gone: deleted by the coordinator when ZooKeeper answered
     * again (guaranteed delete, possibly in the background), or expired with its session.
     */
    private void awaitNoOwner(String group) throws Exception {
        var zk = cluster.coordinator().zk();
        await("no op of " + group + " has an owner left").atMost(GroupUsable.BOUND).until(() -> {
            for (String op : zk.getChildren().forPath(cluster.layout().ops(group))) {
                if (zk.checkExists().forPath(cluster.layout().owner(group, op)) != null) {
                    return false;
                }
            }
            return true;
        });
    }

    private int opCount(String group) throws Exception {
        return cluster.coordinator().zk().getChildren().forPath(cluster.layout().ops(group)).size();
    }

    private List<String> catalog(String group) throws Exception {
        return cluster.coordinator().zk().getChildren().forPath(cluster.layout().checkpoints(group));
    }



    /** The operation's result, or the failure it reported; anything else fails the test. */
    private static Object outcome(Callable<?> operation) throws Exception {
        try {
            return operation.call();
        } catch (OperationFailedException failed) {
            return failed;
        }
    }

    private static Object uncheckedOutcome(Callable<?> operation) {
        try {
            return outcome(operation);
        } catch (Exception e) {
            throw new IllegalStateException(e);
        }
    }
}
