package io.lockstep.coordinator.faults;

import io.lockstep.coordinator.checkpoint.CheckpointOperation;
import io.lockstep.coordinator.checkpoint.CheckpointOptions;
import io.lockstep.coordinator.op.OperationFailedException;
import io.lockstep.coordinator.op.OperationListener;
import io.lockstep.coordinator.restore.RestoreOperation;
import io.lockstep.coordinator.restore.RestoreOptions;
import io.lockstep.coordinator.op.RestoreResult;
import io.lockstep.coordinator.testing.GroupUsable;
import io.lockstep.coordinator.testing.GuardSocket;
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
import java.time.Duration;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicReference;

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
    /** Seconds a restored flock holder sleeps before it locks again. */
    private static final int HOLDER_RELOCKS_AFTER = 6;

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
        cluster.runSleepers("app", "h1", "h2");
        PhaseTrigger killH2 = new PhaseTrigger("end:freeze", () -> cluster.killAgentProcess("h2"));
        CheckpointOptions longGuard = new CheckpointOptions(Duration.ofSeconds(60), Duration.ofSeconds(10),
                GUARD_MAX_FROZEN, Duration.ofSeconds(10));
        assertThatThrownBy(() -> new CheckpointOperation(cluster.coordinator(), longGuard, killH2).run("app"))
                .isInstanceOfSatisfying(OperationFailedException.class, e -> assertThat(e.hostId()).contains("h2"));
        assertThat(cluster.cgroups("h2").forGroup("app").isFrozen()).as("h2's group, left behind by its dead agent").isTrue();

        Path guard = GuardSocket.of(cluster, "h2");
        assertThat(GuardSocket.entries(guard)).as("the dead agent's guard entry, still armed").singleElement()
                .asString().matches("app/ckpt-\\S+-000001-\\S+");

        Process restarted = cluster.startAgentProcess("h2");
        statusOnceRegistered("h2", restarted, "app");

        // Left armed, the old entry would thaw a later checkpoint's freeze in its frozen window.
        assertThat(GuardSocket.entries(guard)).as("guard entries of h2's group after its agent restarted").isEmpty();
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
        ProcLocksSnapshot.FileId inode = ProcLocksSnapshot.fileIdOf(data);
        await("the checkpointed holder's lock is gone with it").atMost(Duration.ofSeconds(20))
                .until(() -> !ProcLocksSnapshot.heldOn(inode));

        // At end:prepare h2's stub holds the lock and prepared/h2 outlives the agent by a session
        // timeout: the pre-commit check of the agents aborts this restore (no agent holds the session).
        PhaseTrigger killH2 = new PhaseTrigger(boundary, () -> cluster.killAgentProcess("h2"));
        assertThatThrownBy(() -> new RestoreOperation(cluster.coordinator(), RestoreOptions.defaults().withAllowRoot(true),
                killH2).run("app"))
                .isInstanceOfSatisfying(OperationFailedException.class, e -> assertThat(e.hostId()).contains("h2"));
        if (boundary.equals("end:prepare")) {
            // A prepared stub outlives its agent, with its lock, until a restarted agent carries out the decision.
            assertThat(Invariants.stubPids(cluster)).as("h2's prepared stub, its agent dead").hasSize(1);
            assertThat(ProcLocksSnapshot.heldOn(inode)).as("the prepared stub's lock").isTrue();
        } else {
            Invariants.assertNoStubs(cluster);
            await("the dead agent's staged stub took its lock along").atMost(Duration.ofSeconds(30))
                    .until(() -> !ProcLocksSnapshot.heldOn(inode));
        }

        Process restarted = cluster.startAgentProcess("h2");
        Invariants.assertNoStubs(cluster);
        await("nothing of the aborted restore holds the lock").atMost(Duration.ofSeconds(30))
                .until(() -> !ProcLocksSnapshot.heldOn(inode));

        GroupStatus status = statusOnceRegistered("h2", restarted, "app");
        assertThat(status.getProcesses()).as("no stub, no process left on h2").isZero();
        assertThat(status.getStubs()).isZero();
        assertThat(status.getCurrentOp()).isEmpty();
        assertThat(status.getFrozen()).isFalse();
        List<Decision> decisions = Invariants.decisions(cluster, "app");
        assertThat(decisions.get(decisions.size() - 1).isCommit()).as("the interrupted restore").isFalse();
        GroupUsable.restoreCommits(cluster, "app");
        await("the restored holder holds its lock again").atMost(Duration.ofSeconds(30))
                .until(() -> ProcLocksSnapshot.heldOn(inode));
        Invariants.assertAll(cluster);
    }

    /**
     * Regression for 46073d9: the agent recorded a restored process's restart spec only after its
     * stub had exec'd, so an agent killed right after the release left the process without one
     * and every later restore was refused ("has no restart spec"). h2's stub is stopped
     * (SIGSTOP) once prepared, holding its lock, so that it cannot exec: the spec must be on disk
     * while the agent's release waits for it. Then the stub goes on, the release ends, h2's agent
     * is SIGKILLed right after it and restarted: it adopts the restored process, and the next
     * checkpoint and restore commit.
     */
    @Test
    void anAgentKilledRightAfterARestoresReleaseLeavesTheRestoredProcessRestartable() throws Exception {
        cluster = LocalCluster.start("h1");
        cluster.startAgentProcess("h2");
        Path data = Files.createDirectories(cluster.dir().resolve("export")).resolve("data");
        int holder = cluster.run("h2", "app", LocalCluster.worker("fd", "500", data.toString(), "lock", "posix", "write",
                "500", "0", "10", "ready", "sleep"));
        cluster.run("h1", "app", List.of("/bin/sleep", "600"));
        cluster.awaitReady("h2", "app", holder);
        new CheckpointOperation(cluster.coordinator(), CheckpointOptions.defaults(), OperationListener.SILENT).run("app");
        cluster.killApplications();
        ProcLocksSnapshot.FileId inode = ProcLocksSnapshot.fileIdOf(data);
        await("the checkpointed holder's lock is gone with it").atMost(Duration.ofSeconds(20))
                .until(() -> !ProcLocksSnapshot.heldOn(inode));
        Path specs = cluster.agentConfig("h2").stateDir().resolve("groups").resolve("app").resolve("specs");
        AtomicReference<List<Integer>> stoppedStubs = new AtomicReference<>(List.of());
        AtomicReference<String> specBeforeTheExec = new AtomicReference<>("not checked");
        OperationListener holdTheStubBeforeItsExec = new OperationListener() {
            @Override
            public void phaseEnded(String phase, long micros) {
                try {
                    if (phase.equals("prepare")) {
                        stoppedStubs.set(List.copyOf(cluster.cgroups("h2").forGroup("app").pids()));
                        signal("STOP", stoppedStubs.get());
                    } else if (phase.equals("commit")) {
                        // h2's agent learns the COMMIT from its decision watch and releases its stub,
                        // which cannot exec while stopped; the agent's release waits up to its session timeout.
                        int stub = stoppedStubs.get().get(0);
                        try {
                            await("h2's agent records the restart spec of stub " + stub + " before the stub execs")
                                    .atMost(Duration.ofSeconds(3)).pollInterval(Duration.ofMillis(10))
                                    .until(() -> Files.exists(specs.resolve(stub + ".spec")));
                            specBeforeTheExec.set("recorded");
                        } catch (org.awaitility.core.ConditionTimeoutException e) {
                            specBeforeTheExec.set("missing: " + e.getMessage());
                        } finally {
                            signal("CONT", stoppedStubs.get());
                        }
                    }
                } catch (Exception e) {
                    throw new IllegalStateException("stopping or resuming h2's stub at the end of " + phase, e);
                }
            }
        };
        PhaseTrigger killH2 = new PhaseTrigger("end:release", () -> cluster.killAgentProcess("h2"));

        RestoreResult restored = new RestoreOperation(cluster.coordinator(), RestoreOptions.defaults().withAllowRoot(true),
                holdTheStubBeforeItsExec.and(killH2)).run("app");

        assertThat(stoppedStubs.get()).as("h2's stubs once prepared").hasSize(1);
        assertThat(specBeforeTheExec.get()).as("the restart spec of h2's stub while it had not exec'd").isEqualTo("recorded");
        assertThat(killH2.fired()).isTrue();
        int restoredPid = restored.processesByHost().get("h2").get(0).getNewPid();
        assertThat(restoredPid).isEqualTo(stoppedStubs.get().get(0));
        Process restarted = cluster.startAgentProcess("h2");
        GroupStatus status = statusOnceRegistered("h2", restarted, "app");
        assertThat(status.getProcesses()).as("the restored process, adopted by the restarted agent").isEqualTo(1);
        assertThat(status.getStubs()).isZero();
        assertThat(ProcLocksSnapshot.heldOn(inode)).as("the restored process holds its lock").isTrue();
        GroupUsable.checkpointCommits(cluster, "app");
        cluster.killApplications();
        await("the restored holder's lock is gone with it").atMost(Duration.ofSeconds(20))
                .until(() -> !ProcLocksSnapshot.heldOn(inode));
        GroupUsable.restoreCommits(cluster, "app");
        await("the holder, restored again, holds its lock").atMost(Duration.ofSeconds(30))
                .until(() -> ProcLocksSnapshot.heldOn(inode));
        assertThat(Invariants.decisions(cluster, "app")).hasSize(4).allMatch(Decision::isCommit);
        Invariants.assertAll(cluster);
    }

    /**
     * Issue 12's promise at a restore whose holder host's agent dies right before the COMMIT: h2's
     * flock holder's stub keeps the lock and waits for a restarted agent; h1's waiter for that lock
     * is held back. h1's agent must not release it by its timer while h2 has not handed the lock to
     * its restarted holder: before (seed 20261216's 50th schedule) it did, 6 s after the COMMIT, the
     * waiter queued on the lock in the kernel and took it when h2's restarted agent released the
     * holder's stub, so the waiter ran and the holder blocked.
     */
    @Test
    void aHeldBackWaiterWaitsForItsHolderHostsAgentToComeBackAfterItDiedAtTheCommit() throws Exception {
        FlockPair pair = checkpointedFlockHolderOnH2AndWaiterOnH1(file -> List.of("flock", "-x", file.toString(),
                "/bin/sh", "-c", "echo \"HOLDING restored=${LOCKSTEP_RESTORED:-0}\"; exec sleep 1000000"));
        int holder = pair.holder();
        int waiter = pair.waiter();
        // h2's agent answers the confirm round, is stopped before it can see the COMMIT, and killed after it
        long h2Agent = cluster.agentProcess("h2").orElseThrow().pid();
        OperationListener stopH2AfterItsConfirm = new OperationListener() {
            @Override
            public void hostDone(String phase, String hostId, int done, int total, String detail) {
                if (phase.equals("confirm") && hostId.equals("h2")) {
                    try {
                        signal("STOP", List.of((int) h2Agent));
                    } catch (Exception e) {
                        throw new IllegalStateException("stopping h2's agent after its confirm answer", e);
                    }
                }
            }
        };
        PhaseTrigger killH2 = new PhaseTrigger("end:commit", () -> cluster.killAgentProcess("h2"));
        // the hand-over timeout is the RPC timeout, which the op timeout caps: short, to keep the test fast
        Duration handOverTimeout = Duration.ofSeconds(8);

        RestoreResult restored = new RestoreOperation(cluster.coordinator(), RestoreOptions.defaults().withAllowRoot(true)
                .withSkipUnrestartable(true).withTimeout(handOverTimeout), stopH2AfterItsConfirm.and(killH2)).run("app");

        assertThat(killH2.fired()).isTrue();
        assertThat(restored.releaseFailures()).containsKey("h2");
        int newWaiter = restored.processesByHost().get("h1").stream().filter(p -> p.getOldPid() == waiter)
                .mapToInt(io.lockstep.proto.StagedProcess::getNewPid).findFirst().orElseThrow();
        // h1's own fallback comes a hand-over timeout and a session timeout after its release round
        await("h1's waiter stays held back (a stub) while h2's agent is down, past h1's fallback")
                .during(handOverTimeout.plus(LocalCluster.SESSION_TIMEOUT).plusSeconds(4))
                .atMost(handOverTimeout.plus(LocalCluster.SESSION_TIMEOUT).plusSeconds(30))
                .until(() -> Invariants.stubPids(cluster).contains((long) newWaiter));
        cluster.startAgentProcess("h2", List.of("--network-fs", "tmpfs"));
        int newHolder = restored.processesByHost().get("h2").stream().filter(p -> p.getOldPid() == holder)
                .mapToInt(io.lockstep.proto.StagedProcess::getNewPid).findFirst().orElseThrow();
        await("h2's restarted agent releases the holder, which takes its lock again").atMost(Duration.ofSeconds(60))
                .until(() -> cluster.output("h2", "app", newHolder).contains("HOLDING restored=1"));
        await("then h1's waiter is released and waits for the lock its holder has").atMost(Duration.ofSeconds(60))
                .until(() -> !Invariants.stubPids(cluster).contains((long) newWaiter)
                        && !ProcLocksSnapshot.read().waitingOf(newWaiter).isEmpty());
        assertThat(cluster.output("h1", "app", newWaiter)).as("the waiter never got the lock while its holder lives")
                .doesNotContain("GOT restored=1");
        Invariants.assertAll(cluster);
    }

    /**
     * h2's agent dies after its release round exec'd the flock holder's program, while its hand-over
     * check still waits for that program to lock again (it sleeps first): no stub is left to adopt.
     * Before (seen on bec956a; soak seed 20261231, 2nd schedule) the restarted agent never recorded
     * that h2's round was over, and h1's held-back waiter stayed a stub until the 5-minute give-up.
     * Now the restarted agent finishes the recorded hand-over check and marks; the waiter then goes,
     * and only after its holder has the lock again.
     */
    @Test
    void aRestartedAgentFinishesTheHandOverItsPredecessorDiedInAndTheHeldBackWaiterGoesAfterItsHolder()
            throws Exception {
        // restarted, the holder sleeps before it locks again: h2's hand-over check waits that long
        FlockPair pair = checkpointedFlockHolderOnH2AndWaiterOnH1(file -> List.of("/bin/sh", "-c",
                "if [ \"${LOCKSTEP_RESTORED:-0}\" = 1 ]; then sleep " + HOLDER_RELOCKS_AFTER + "; fi; exec flock -x "
                        + file + " /bin/sh -c 'echo \"HOLDING restored=${LOCKSTEP_RESTORED:-0}\"; exec sleep 1000000'"));
        int holder = pair.holder();
        int waiter = pair.waiter();
        Duration handOverTimeout = Duration.ofSeconds(20);

        java.util.concurrent.ExecutorService coordinatorThread = java.util.concurrent.Executors.newSingleThreadExecutor();
        java.util.concurrent.Future<RestoreResult> restore;
        try {
            restore = coordinatorThread.submit(() -> new RestoreOperation(cluster.coordinator(), RestoreOptions.defaults()
                    .withAllowRoot(true).withSkipUnrestartable(true).withTimeout(handOverTimeout), OperationListener.SILENT)
                    .run("app"));
        } finally {
            coordinatorThread.shutdown();
        }
        await("h2's holder was released: its restarted program sleeps before it locks")
                .atMost(Duration.ofSeconds(60)).pollInterval(Duration.ofMillis(20))
                .until(() -> cluster.cgroups("h2").forGroup("app").pids().stream()
                        .anyMatch(pid -> commandLine(pid).equals("sleep " + HOLDER_RELOCKS_AFTER)));
        cluster.killAgentProcess("h2");
        RestoreResult restored = restore.get(60, TimeUnit.SECONDS);
        assertThat(restored.releaseFailures()).containsKey("h2");
        cluster.startAgentProcess("h2", List.of("--network-fs", "tmpfs"));

        int newHolder = restored.processesByHost().get("h2").stream().filter(p -> p.getOldPid() == holder)
                .mapToInt(io.lockstep.proto.StagedProcess::getNewPid).findFirst().orElseThrow();
        int newWaiter = restored.processesByHost().get("h1").stream().filter(p -> p.getOldPid() == waiter)
                .mapToInt(io.lockstep.proto.StagedProcess::getNewPid).findFirst().orElseThrow();
        await("the restarted holder takes its lock again").atMost(Duration.ofSeconds(60))
                .until(() -> cluster.output("h2", "app", newHolder).contains("HOLDING restored=1"));
        // h1's fallback: a hand-over timeout and a session timeout after its round, once h2 marked; the
        // 5-minute give-up is far beyond this wait
        await("h1's held-back waiter is released, and waits for the lock its holder has")
                .atMost(handOverTimeout.plus(LocalCluster.SESSION_TIMEOUT).plusSeconds(40))
                .until(() -> !Invariants.stubPids(cluster).contains((long) newWaiter)
                        && !ProcLocksSnapshot.read().waitingOf(newWaiter).isEmpty());
        assertThat(cluster.output("h1", "app", newWaiter)).as("the waiter never got the lock while its holder lives")
                .doesNotContain("GOT restored=1");
        Invariants.assertAll(cluster);
    }

    /** The checkpointed holder (h2, an agent JVM of its own) and waiter (h1) of one flock, both killed since. */
    private record FlockPair(int holder, int waiter) {
    }

    /**
     * h2's holder, started as {@code holderCommand} of the shared file, holds its flock (it prints
     * "HOLDING restored=0") and h1's flock(1) waits for it; both are checkpointed, then killed.
     */
    private FlockPair checkpointedFlockHolderOnH2AndWaiterOnH1(java.util.function.Function<Path, List<String>> holderCommand)
            throws Exception {
        cluster = LocalCluster.start();
        Path export = cluster.mountExport("export");
        cluster.startAgent("h1", config -> config.withNetworkFsTypes(java.util.Set.of("tmpfs")));
        cluster.startAgentProcess("h2", List.of("--network-fs", "tmpfs"));
        Path file = Files.writeString(export.resolve("flocked"), "");
        int holder = cluster.run("h2", "app", holderCommand.apply(file));
        await("flock(1) on h2 holds the lock").atMost(Duration.ofSeconds(30))
                .until(() -> cluster.output("h2", "app", holder).contains("HOLDING restored=0"));
        int waiter = cluster.run("h1", "app", List.of("flock", "-x", file.toString(), "/bin/sh", "-c",
                "echo \"GOT restored=${LOCKSTEP_RESTORED:-0}\"; exec sleep 1000000"));
        await("flock(1) on h1 waits").atMost(Duration.ofSeconds(30))
                .until(() -> ProcLocksSnapshot.read().waitingOf(waiter).size() == 1);
        new CheckpointOperation(cluster.coordinator(), CheckpointOptions.defaults(), OperationListener.SILENT).run("app");
        cluster.killApplications();
        ProcLocksSnapshot.FileId inode = ProcLocksSnapshot.fileIdOf(file);
        await("the killed processes' locks are gone").atMost(Duration.ofSeconds(20))
                .until(() -> !ProcLocksSnapshot.heldOn(inode));
        return new FlockPair(holder, waiter);
    }

    private static String commandLine(long pid) {
        try {
            return new String(Files.readAllBytes(Path.of("/proc/" + pid + "/cmdline")),
                    java.nio.charset.StandardCharsets.UTF_8).replace('\0', ' ').trim();
        } catch (java.io.IOException gone) {
            return "";
        }
    }

    private static void signal(String name, List<Integer> pids) throws Exception {
        for (int pid : pids) {
            Process kill = new ProcessBuilder("kill", "-" + name, Integer.toString(pid)).inheritIO().start();
            if (!kill.waitFor(30, TimeUnit.SECONDS) || kill.exitValue() != 0) {
                throw new IllegalStateException("kill -" + name + " " + pid + " failed");
            }
        }
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


}
