package io.lockstep.coordinator.schedules;

import io.lockstep.agent.proc.LockEntry;
import io.lockstep.manifest.ManifestCodec;
import io.lockstep.coordinator.agents.AgentCallException;
import io.lockstep.coordinator.catalog.Catalog;
import io.lockstep.coordinator.agents.AgentClient;
import io.lockstep.coordinator.checkpoint.CheckpointOperation;
import io.lockstep.coordinator.checkpoint.CheckpointOptions;
import io.lockstep.coordinator.op.CheckpointResult;
import io.lockstep.coordinator.op.CoordinatorContext;
import io.lockstep.coordinator.op.OperationFailedException;
import io.lockstep.coordinator.op.OperationListener;
import io.lockstep.coordinator.op.RestoreResult;
import io.lockstep.coordinator.restore.RestoreOperation;
import io.lockstep.coordinator.restore.RestoreOptions;
import io.lockstep.coordinator.schedules.FaultKind.Operation;
import io.lockstep.coordinator.testing.Invariants;
import io.lockstep.coordinator.testing.LocalCluster;
import io.lockstep.coordinator.testing.PausingCoordinator;
import io.lockstep.coordinator.testing.ProcLocksSnapshot;
import io.lockstep.coordinator.testing.ZooKeeperLostAfterCommit;
import io.lockstep.proto.AbortRequest;
import io.lockstep.proto.CatalogEntry;
import io.lockstep.proto.CatalogManifest;
import io.lockstep.proto.LockRecord;
import io.lockstep.proto.Manifest;
import io.lockstep.proto.OpContext;
import io.lockstep.proto.OpRecord;
import io.lockstep.proto.ProcessRecord;
import io.lockstep.proto.ThawRequest;
import io.lockstep.zk.Decision;
import io.lockstep.zk.Decisions;
import io.lockstep.zk.ZkJson;
import org.apache.curator.framework.CuratorFramework;
import org.apache.curator.framework.CuratorFrameworkFactory;
import org.apache.curator.retry.RetryNTimes;
import org.apache.zookeeper.KeeperException;

import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Clock;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.Optional;
import java.util.Set;
import java.util.TreeSet;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.ScheduledFuture;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicReference;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

/**
 * One schedule, with a group of its own on the soak's shared {@link ScheduleCluster}: on each host
 * a lock holder and a waiter for the other host's holder (lock kinds drawn: {@link Application}). Each cycle
 * runs one operation with its fault, heals the fault, checks every invariant, and proves the
 * group usable again (a restore that aborted is retried without fault, then a checkpoint must
 * commit), so the next cycle starts from a known state. {@link #close} undoes every fault and
 * kills the group's processes, also after a failed check; {@link #endAndCheckNothingLeft} proves
 * that the group left nothing behind on the shared cluster.
 */
final class ScheduleRun implements AutoCloseable {
    private static final String STEADY_HOST = ScheduleCluster.STEADY_HOST;
    private static final String FAULTY_HOST = ScheduleCluster.FAULTY_HOST;
    private static final List<String> HOSTS = List.of(STEADY_HOST, FAULTY_HOST);
    /** A quarter of the ZooKeeper session timeout: well within it. */
    private static final Duration SHORT_FAULT = ScheduleCluster.SESSION_TIMEOUT.dividedBy(4);
    /** Past the ZooKeeper session timeout: sessions expire, agents act on their own. */
    private static final Duration LONG_FAULT = ScheduleCluster.SESSION_TIMEOUT.plusMillis(1500);
    /**
     * The holder's fd of its own data file, the waiter's fd of the other host's: far above what a
     * worker opens itself. A holder's handed-over fd closes at its execve; when the workers were
     * JVMs, at 500 the restarted JVM put a jar there, which the worker, finding the fd open, took
     * for its restored file (the OFD lock call then failed).
     */
    private static final String HOLDER_FD = "1500";
    private static final String WAITER_FD = "1501";
    /**
     * Deadlines shorter than the defaults so that a cycle whose fault blocks the operation ends in
     * bounded time; the maximum frozen time (the agents' own limit and their external guards)
     * longer than any cycle reaches its nothing-frozen check, so that a thaw seen there is the
     * protocol's (decision, owner gone, session lost, restarted agent), never the last resort's.
     */
    private static final CheckpointOptions CHECKPOINT = new CheckpointOptions(Duration.ofSeconds(20),
            Duration.ofSeconds(10), Duration.ofMinutes(2), Duration.ofSeconds(10));
    /** How long the protocol may take to thaw after a cycle's fault is healed, at most. */
    private static final Duration NOTHING_FROZEN_WAIT = Duration.ofSeconds(40);
    /** The nothing-frozen check ends at least this long before a guard armed in the cycle could fire. */
    private static final Duration GUARD_MARGIN = Duration.ofSeconds(5);
    /**
     * RPCs of 8 s, not 30 (also the crashing coordinator's): the RPC timeout is also the hand-over
     * timeout, after which (plus a session) an agent whose first release round failed releases its
     * held-back waiters itself; a schedule waits for that (the no-stubs check) before the next
     * operation. A restarted worker takes its lock again within milliseconds ({@link PythonLockWorker});
     * with worker JVMs, 8 s had been too short under load average 16, and the schedules used 15 s.
     */
    private static final RestoreOptions RESTORE = new RestoreOptions("latest", Map.of(), List.of(), false, true, false,
            Duration.ofSeconds(30), Duration.ofSeconds(8), Optional.empty(), false);
    private static final Duration RECOVERY = Duration.ofSeconds(90);
    private static final String COMMITTED = "committed ";

    private final ScheduleCluster shared;
    private final LocalCluster cluster;
    private final String group;
    private final Application application;
    private final ScheduleSummary summary;
    private final AgentEpochLog epochs;
    private final ScheduledExecutorService timer = Executors.newSingleThreadScheduledExecutor(runnable -> {
        Thread thread = new Thread(runnable, "fault-schedule-timer");
        thread.setDaemon(true);
        return thread;
    });
    private final Map<String, Path> dataFiles = new HashMap<>();
    private final Map<String, Decision> decisionsSeen = new HashMap<>();
    /** Per operation, the time left after each moment in its latest run without fault (kept by the cluster). */
    private final Map<Operation, Map<String, Long>> measuredRemainingMillis;
    private final List<ScheduledFuture<?>> pendingHeals = new ArrayList<>();
    private final AtomicBoolean zkDown = new AtomicBoolean();
    private final AtomicReference<Long> pausedAgentPid = new AtomicReference<>();
    private final AtomicBoolean agentKilled = new AtomicBoolean();
    private final AtomicReference<Path> storeBlock = new AtomicReference<>();
    private final AtomicReference<String> staleRpcOutcome = new AtomicReference<>();
    /** Set when a ZK_LOST_COMMIT_REPLY cycle's commit multi reached ZooKeeper and ZooKeeper was lost after it. */
    private final AtomicBoolean commitReplyLost = new AtomicBoolean();
    private Process coordinatorJvm;
    private OpContext previousOp;
    private String lastRecoveryFailure = "";
    private int actsCountedBefore;

    private ScheduleRun(ScheduleCluster shared, Application application, ScheduleSummary summary) {
        this.shared = shared;
        this.cluster = shared.cluster;
        this.epochs = shared.epochs;
        this.measuredRemainingMillis = shared.measuredRemainingMillis;
        this.group = shared.nextGroup();
        this.application = application;
        this.summary = summary;
        this.actsCountedBefore = epochs.actsChecked();
    }

    static ScheduleRun start(ScheduleCluster shared, Application application, ScheduleSummary summary) throws Exception {
        Laps laps = new Laps();
        ScheduleRun run = new ScheduleRun(shared, application, summary);
        try {
            Path export = Files.createDirectories(shared.export.resolve(run.group));
            for (String host : HOSTS) {
                run.dataFiles.put(host, export.resolve("data-" + host));
            }
            run.startHolders();
            laps.lap("holders");
            run.startWaiters();
            laps.lap("waiters");
            run.proveUsable();
            laps.lap("first checkpoint");
            if (!run.measuredRemainingMillis.containsKey(Operation.RESTORE)) {
                run.measureARestore();
                laps.lap("measured restore");
            }
            System.out.println("schedule set-up (group " + run.group + ", " + application + "): " + laps);
            summary.setUpEnded(laps);
            return run;
        } catch (Throwable e) {
            run.close();
            throw e;
        }
    }

    private CoordinatorContext coordinator() throws Exception {
        return cluster.coordinator();
    }

    void cycle(Cycle cycle) throws Exception {
        try {
            runCycle(cycle);
        } catch (AssertionError violation) {
            throw new AssertionError("cycle " + cycle + ": " + violation.getMessage(), violation);
        }
    }

    private void runCycle(Cycle cycle) throws Exception {
        long cycleStartNanos = System.nanoTime();
        Laps laps = new Laps();
        long epochBefore = newestOp().map(OpRecord::getEpoch).orElse(0L);
        List<String> membersBefore = children(cluster.layout().members(group));
        String restoredCheckpoint = latest();
        if (cycle.operation() == Operation.RESTORE) {
            killApplication();
        }
        staleRpcOutcome.set(null);
        Optional<String> landedIn;
        String returned;
        List<Throwable> injectionErrors = List.of();
        if (cycle.fault() == FaultKind.COORDINATOR_CRASH) {
            boolean paused = crashCoordinatorAfter(cycle);
            landedIn = paused ? Optional.of("after " + cycle.moment()) : Optional.empty();
            returned = paused ? "coordinator killed" : "coordinator ended before " + cycle.moment();
        } else if (cycle.fault() == FaultKind.AGENT_STOPPED) {
            stopFaultyAgent();
            landedIn = Optional.of("before start");
            returned = runInProcess(cycle.operation(), coordinator(), OperationListener.SILENT);
        } else {
            long delayMs = delayMs(cycle);
            MomentTrigger trigger = new MomentTrigger(cycle, delayMs, () -> inject(cycle, epochBefore), timer);
            PhaseTimeline timeline = new PhaseTimeline();
            commitReplyLost.set(false);
            CoordinatorContext driving = coordinatorFor(cycle);
            try {
                returned = runInProcess(cycle.operation(), driving, trigger.and(timeline));
            } finally {
                if (cycle.fault() == FaultKind.ZK_LOST_COMMIT_REPLY) {
                    driving.zk().close();
                }
            }
            trigger.operationEnded();
            timeline.ended();
            if (cycle.fault() == FaultKind.NONE && returned.startsWith(COMMITTED)) {
                measuredRemainingMillis.put(cycle.operation(), timeline.remainingMillis());
            }
            trigger.awaitSettled(Duration.ofSeconds(30));
            landedIn = switch (cycle.fault()) {
                case CLOCK_SKEW -> Optional.of("the whole operation");
                case ZK_LOST_COMMIT_REPLY -> commitReplyLost.get() ? Optional.of("during commit") : Optional.empty();
                default -> trigger.landedIn();
            };
            injectionErrors = trigger.injectionErrors();
            if (delayMs > 0) {
                returned += "; fault delay " + delayMs + " ms";
            }
        }
        boolean injected = landedIn.isPresent();
        laps.lap("operation");
        heal(laps);
        Optional<String> opId = newestOp().filter(record -> record.getEpoch() > epochBefore).map(OpRecord::getOpId);
        Optional<Decision> decision = checkInvariants(cycle, cycleStartNanos, opId, restoredCheckpoint, injected,
                injectionErrors, membersBefore, returned);
        laps.lap("checks");
        boolean committed = decision.map(Decision::isCommit).orElse(false);
        // Stubs killed after the confirm round and a committed restore: h2's processes (or one) are gone.
        boolean committedWithoutH2 = stubsKilledAfterConfirm(cycle, injected) && committed;
        if (cycle.operation() == Operation.RESTORE && committed && !committedWithoutH2) {
            awaitRestoredWorkersReady();
            laps.lap("restored workers ready");
        }
        if (cycle.fault() == FaultKind.ZK_LOST_COMMIT_REPLY && injected) {
            assertThat(returned).as("the coordinator's answer when ZooKeeper was lost with the commit's answer")
                    .contains("committed is unknown");
        } else if (cycle.fault() != FaultKind.COORDINATOR_CRASH) {
            assertThat(returned.startsWith(COMMITTED)).as("the coordinator's answer '" + returned
                    + "' tells the decision " + decision).isEqualTo(committed);
        }
        String outcome = opId.isEmpty() ? "no op opened" : decision.map(d -> d.isCommit() ? "COMMIT" : "ABORT")
                .orElse("orphaned");
        System.out.println("cycle " + cycle + ": " + outcome + ", fault " + landedIn.map(p -> "landed " + p)
                .orElse(cycle.fault() == FaultKind.NONE ? "none" : "not injected (the operation ended first)")
                + " (" + returned + ")");
        if (committedWithoutH2) {
            killApplication();
        }
        if (cycle.operation() == Operation.RESTORE && (!committed || committedWithoutH2)) {
            restoreAgain(restoredCheckpoint);
            laps.lap("restore again");
        }
        proveUsable();
        laps.lap("checkpoint after");
        if (opId.isPresent() && decision.isEmpty()) {
            assertThat(decisionOf(opId.get())).as("orphaned op " + opId.get() + " after the next operation opened")
                    .hasValueSatisfying(d -> assertThat(d.isCommit()).isFalse());
        }
        int acts = epochs.actsChecked();
        laps.lap("checks");
        System.out.println("cycle time " + cycle.fault() + ": " + laps);
        summary.cycleEnded(cycle, landedIn, outcome, acts - actsCountedBefore, laps);
        actsCountedBefore = acts;
    }

    private String runInProcess(Operation operation, CoordinatorContext driving, OperationListener listener) {
        try {
            if (operation == Operation.CHECKPOINT) {
                return COMMITTED + new CheckpointOperation(driving, CHECKPOINT, listener).run(group).checkpointId();
            }
            RestoreResult restored = new RestoreOperation(driving, RESTORE, listener).run(group);
            return COMMITTED + restored.opId() + (restored.fullyReleased() ? ""
                    : "; release failed on " + String.join(", ", restored.releaseFailures().keySet()));
        } catch (OperationFailedException failed) {
            return "failed " + failed.reason() + ": " + failed.getMessage();
        } catch (Exception other) {
            // A fault may surface as something else (e.g. ZooKeeper gone while the operation opens);
            // the invariants below judge what it left behind.
            return "failed " + other;
        }
    }

    /**
     * The cycle's delay: its drawn share of what remained of the same operation after the same
     * moment in its latest run without fault on this cluster (0 where none was measured).
     */
    private long delayMs(Cycle cycle) {
        if (!cycle.fault().delayable()) {
            return 0;
        }
        long remaining = measuredRemainingMillis.getOrDefault(cycle.operation(), Map.of()).getOrDefault(cycle.moment(), 0L);
        return remaining * cycle.delayPermille() / 1000;
    }

    private void inject(Cycle cycle, long epochBefore) {
        try {
            switch (cycle.fault()) {
                case NONE, COORDINATOR_CRASH -> {
                }
                case AGENT_KILL -> {
                    epochs.scan(agentLogs());
                    cluster.killAgentProcess(FAULTY_HOST);
                    agentKilled.set(true);
                }
                case AGENT_PAUSE -> {
                    long pid = cluster.agentProcess(FAULTY_HOST).orElseThrow().pid();
                    signal("STOP", pid);
                    pausedAgentPid.set(pid);
                    schedule(this::resumeAgent, duration(cycle));
                }
                case ZK_OUTAGE -> {
                    zkDown.set(true);
                    cluster.zkServer().stop();
                    schedule(this::restartZooKeeper, duration(cycle));
                }
                case STALE_EPOCH_RPC -> staleRpcOutcome.set(sendStaleRpc(cycle.operation()));
                case AGENT_STOPPED, ZK_LOST_COMMIT_REPLY, CLOCK_SKEW -> {
                }
                case ONE_STUB_KILL -> killOneStub(cycle);
                case STUB_KILL, STUB_KILL_AFTER_CONFIRM -> {
                    // h2's group holds only the restore's stubs now (the application was killed before).
                    Set<Integer> stubs = cluster.cgroups(FAULTY_HOST).forGroup(group).pids();
                    assertThat(stubs).as("h2's prepared stubs").isNotEmpty();
                    for (int pid : stubs) {
                        ProcessHandle.of(pid).ifPresent(stub -> {
                            stub.destroyForcibly();
                            stub.onExit().join();
                        });
                    }
                }
                case STORE_WRITE_FAILURE -> {
                    // A file where the operation's store directory must go: the manifest write fails.
                    String opId = newestOp().filter(op -> op.getEpoch() > epochBefore).orElseThrow().getOpId();
                    Path blocked = cluster.fileStore().checkpointDir(group, opId);
                    Files.createDirectories(blocked.getParent());
                    Files.writeString(blocked, "store fault injected by the fault schedule");
                    storeBlock.set(blocked);
                }
            }
        } catch (Exception e) {
            throw new IllegalStateException("could not inject " + cycle.fault() + ": " + e, e);
        }
    }

    /** Stubs of h2 (all of them, or one) were killed once the confirm round was over, before the release. */
    private static boolean stubsKilledAfterConfirm(Cycle cycle, boolean injected) {
        return injected && (cycle.fault() == FaultKind.STUB_KILL_AFTER_CONFIRM
                || cycle.fault() == FaultKind.ONE_STUB_KILL && cycle.moment().equals("confirm"));
    }

    /**
     * The one stub of h2 that restores its holder (its fd on h2's data file) or its waiter (its fd
     * on h1's data file), as the cycle drew; the other stubs of h2 live on.
     */
    private void killOneStub(Cycle cycle) throws Exception {
        Set<Integer> stubs = cluster.cgroups(FAULTY_HOST).forGroup(group).pids();
        String fd = cycle.waiterStub() ? WAITER_FD : HOLDER_FD;
        Path file = dataFiles.get(cycle.waiterStub() ? STEADY_HOST : FAULTY_HOST);
        List<Integer> chosen = new ArrayList<>();
        for (int pid : stubs) {
            try {
                if (Files.readSymbolicLink(Path.of("/proc", Integer.toString(pid), "fd", fd)).equals(file)) {
                    chosen.add(pid);
                }
            } catch (java.io.IOException noSuchFd) {
                // the other stub, or gone
            }
        }
        assertThat(stubs).as(FAULTY_HOST + "'s prepared stubs").hasSizeGreaterThan(1);
        assertThat(chosen).as(FAULTY_HOST + "'s stub with fd " + fd + " on " + file + " among " + stubs).hasSize(1);
        ProcessHandle.of(chosen.get(0)).ifPresent(stub -> {
            stub.destroyForcibly();
            stub.onExit().join();
        });
    }

    private static Duration duration(Cycle cycle) {
        return cycle.pastSessionTimeout() ? LONG_FAULT : SHORT_FAULT;
    }

    private void schedule(ThrowingAction action, Duration after) {
        synchronized (pendingHeals) {
            pendingHeals.add(timer.schedule(() -> {
                action.run();
                return null;
            }, after.toMillis(), TimeUnit.MILLISECONDS));
        }
    }

    private interface ThrowingAction {
        void run() throws Exception;
    }

    private void resumeAgent() throws Exception {
        Long pid = pausedAgentPid.getAndSet(null);
        if (pid != null) {
            signal("CONT", pid);
        }
    }

    private void restartZooKeeper() throws Exception {
        if (zkDown.compareAndSet(true, false)) {
            cluster.zkServer().restart();
        }
    }

    private static void signal(String name, long pid) throws Exception {
        Process kill = new ProcessBuilder("kill", "-" + name, Long.toString(pid)).inheritIO().start();
        if (!kill.waitFor(30, TimeUnit.SECONDS) || kill.exitValue() != 0) {
            throw new IllegalStateException("kill -" + name + " " + pid + " failed");
        }
    }

    /** An old coordinator's call: the previous operation's context, which h1 must refuse as stale. */
    private String sendStaleRpc(Operation operation) throws Exception {
        AgentClient agent = coordinator().clients().forHost(coordinator().directory().host(STEADY_HOST).orElseThrow());
        try {
            if (operation == Operation.CHECKPOINT) {
                agent.thaw(ThawRequest.newBuilder().setCtx(previousOp).build(), Duration.ofSeconds(10));
            } else {
                agent.abort(AbortRequest.newBuilder().setCtx(previousOp).setReason("stale coordinator").build(),
                        Duration.ofSeconds(10));
            }
            return "accepted";
        } catch (AgentCallException e) {
            return e.isStaleEpoch() ? "refused as stale" : "failed otherwise: " + e.getMessage();
        }
    }

    /** Runs PausingCoordinator to the end of the cycle's phase and SIGKILLs it there. */
    private boolean crashCoordinatorAfter(Cycle cycle) throws Exception {
        Path out = cluster.dir().resolve("coordinator-" + System.nanoTime() + ".out");
        List<String> command = new ArrayList<>(List.of(LocalCluster.javaBinary(), "-Xmx128m", "-XX:TieredStopAtLevel=1",
                "-Dlockstep.test.sessionTimeoutMs=" + cluster.sessionTimeout().toMillis(),
                "-D" + PausingCoordinator.RESTORE_RPC_TIMEOUT_PROPERTY + "=" + RESTORE.rpcTimeout().toMillis(),
                "-cp", System.getProperty("java.class.path"), PausingCoordinator.class.getName(), cluster.zkConnect(),
                cluster.zkRoot(), cluster.fileStore().root().toString(), group, cycle.moment()));
        if (cycle.operation() == Operation.RESTORE) {
            command.add("restore");
        }
        coordinatorJvm = new ProcessBuilder(command).redirectErrorStream(true).redirectOutput(out.toFile()).start();
        Process jvm = coordinatorJvm;
        await("coordinator JVM reaches the end of " + cycle.moment()).atMost(Duration.ofSeconds(120))
                .until(() -> Files.readString(out).contains("PAUSED " + cycle.moment()) || !jvm.isAlive());
        boolean paused = jvm.isAlive();
        jvm.destroyForcibly().waitFor(30, TimeUnit.SECONDS);
        return paused;
    }

    /** Undoes every fault: resumes the paused agent, restarts ZooKeeper and a killed agent, unblocks the store. */
    private void heal(Laps laps) throws Exception {
        List<ScheduledFuture<?>> heals;
        synchronized (pendingHeals) {
            heals = new ArrayList<>(pendingHeals);
            pendingHeals.clear();
        }
        for (ScheduledFuture<?> heal : heals) {
            heal.get(60, TimeUnit.SECONDS);
        }
        laps.lap("fault's end");
        // ZooKeeper lost with a commit's answer stays down until the operation gave up: back now.
        restartZooKeeper();
        if (coordinatorJvm != null) {
            coordinatorJvm.destroyForcibly().waitFor(30, TimeUnit.SECONDS);
            coordinatorJvm = null;
        }
        Path blocked = storeBlock.getAndSet(null);
        if (blocked != null) {
            Files.deleteIfExists(blocked);
        }
        if (agentKilled.getAndSet(false)) {
            epochs.scan(agentLogs());
            epochs.fileRestarted(agentLog(FAULTY_HOST));
            ScheduleCluster.startFaultyAgent(cluster);
            laps.lap("agent restart");
        }
        laps.lap("heal");
    }

    private Optional<Decision> checkInvariants(Cycle cycle, long cycleStartNanos, Optional<String> opId,
                                               String restoredCheckpoint, boolean injected,
                                               List<Throwable> injectionErrors, List<String> membersBefore,
                                               String returned) throws Exception {
        assertThat(injectionErrors).as("faults that could not be injected").isEmpty();
        assertThawedByTheProtocol(cycleStartNanos);
        // Held-back waiters of a committed restore whose coordinator died before its release, or
        // whose first release round failed, are released by their agents after the hand-over
        // timeout and a session: the wait covers that, and no more (seed 20261211 found 20 s short).
        Duration handOverFallback = RESTORE.rpcTimeout().plus(cluster.sessionTimeout());
        await("no restore stub of cluster " + cluster.id() + " runs once the hand-over fallback ("
                + handOverFallback.toSeconds() + " s) passed").atMost(handOverFallback.plusSeconds(10))
                .until(() -> Invariants.stubPids(cluster).isEmpty());
        Optional<Decision> decision = Optional.empty();
        if (opId.isPresent()) {
            // Decided by its coordinator or by an agent; or orphaned (its coordinator's session is gone
            // before any agent watched it), for the next operation to abort.
            String path = cluster.layout().owner(group, opId.get());
            await("op " + opId.get() + " is decided or has no owner").atMost(Duration.ofSeconds(60))
                    .until(() -> decisionOf(opId.get()).isPresent()
                            || coordinator().zk().checkExists().forPath(path) == null);
            decision = decisionOf(opId.get());
        }
        Invariants.assertCatalogConsistent(cluster);
        assertDecisionsNeverChange();
        epochs.scan(agentLogs());
        assertThat(epochs.violations()).as("agents acting on an epoch older than one they had seen").isEmpty();
        if (cycle.fault() == FaultKind.STALE_EPOCH_RPC && injected) {
            assertThat(staleRpcOutcome.get()).as("h1's answer to the previous op's " + (cycle.operation()
                    == Operation.CHECKPOINT ? "Thaw" : "Abort")).isEqualTo("refused as stale");
        }
        if (cycle.operation() == Operation.CHECKPOINT && decision.map(Decision::isCommit).orElse(false)) {
            CatalogEntry committed = new Catalog(coordinator()).resolve(group, opId.orElseThrow());
            assertThat(committed.getManifestsList().stream().map(CatalogManifest::getHostId).toList())
                    .as("hosts of committed checkpoint " + opId.get() + ": every member when it opened")
                    .containsExactlyInAnyOrderElementsOf(membersBefore);
        }
        if ((cycle.fault() == FaultKind.STUB_KILL || cycle.fault() == FaultKind.ONE_STUB_KILL
                && cycle.moment().equals("prepare")) && injected) {
            assertThat(decision).as("decision of a restore whose stubs were killed after prepare")
                    .hasValueSatisfying(d -> assertThat(d.isCommit()).isFalse());
        }
        if (cycle.fault() == FaultKind.AGENT_STOPPED) {
            assertThat(returned).as("a checkpoint while member " + FAULTY_HOST + "'s agent is stopped")
                    .startsWith("failed AGENT_UNAVAILABLE").contains(FAULTY_HOST);
            assertThat(decision.map(Decision::isCommit).orElse(false))
                    .as("a checkpoint while a member's agent is stopped committed").isFalse();
        }
        if (cycle.fault() == FaultKind.ZK_LOST_COMMIT_REPLY && injected) {
            // The multi reached ZooKeeper: COMMIT, latest, and manifests in the store (checked above).
            assertThat(decision).as("decision of the checkpoint whose commit answer was lost").contains(Decision.commit());
            assertThat(latest()).as("latest after the lost commit answer").isEqualTo(opId.orElseThrow());
        }
        if (stubsKilledAfterConfirm(cycle, injected) && decision.map(Decision::isCommit).orElse(false)) {
            assertThat(returned).as("a committed restore whose stubs on " + FAULTY_HOST + " died before the release")
                    .contains("release failed on").contains(FAULTY_HOST);
        }
        if (cycle.operation() == Operation.RESTORE && decision.map(Decision::isCommit).orElse(false)
                && (cycle.fault() == FaultKind.NONE || cycle.fault() == FaultKind.CLOCK_SKEW
                || cycle.fault() == FaultKind.STALE_EPOCH_RPC)) {
            // Faults that leave every agent and stub alive: every process must be released.
            assertThat(returned).as("a committed restore whose fault killed nothing").doesNotContain("release failed");
        }
        if (cycle.fault() == FaultKind.STORE_WRITE_FAILURE && injected) {
            assertThat(decision).as("decision of the op whose manifest could not be written")
                    .hasValueSatisfying(d -> assertThat(d.isCommit()).isFalse());
        }
        if (cycle.operation() == Operation.RESTORE) {
            if (decision.map(Decision::isCommit).orElse(false)) {
                if (!stubsKilledAfterConfirm(cycle, injected)) {
                    assertHeldLocksAreTheManifests(restoredCheckpoint);
                }
            } else {
                assertNothingLockedOnData();
            }
        }
        assertNoWaiterRanWhileItsHolderLives();
        return decision;
    }

    /**
     * Nothing is frozen, and the wait for it ends before any freeze guard armed in this cycle (no
     * earlier than the cycle's start) or the agents' own maximum-time limit could have thawed a
     * group: what thawed it was the protocol.
     */
    private void assertThawedByTheProtocol(long cycleStartNanos) throws Exception {
        Duration beforeGuards = CHECKPOINT.maxFrozen().minus(GUARD_MARGIN).minusNanos(System.nanoTime() - cycleStartNanos);
        assertThat(beforeGuards).as("time left for the nothing-frozen check before this cycle's guards could fire")
                .isGreaterThan(Duration.ofSeconds(1));
        Duration atMost = beforeGuards.compareTo(NOTHING_FROZEN_WAIT) < 0 ? beforeGuards : NOTHING_FROZEN_WAIT;
        await("no group of cluster " + cluster.id() + " is frozen, thawed by the protocol within " + atMost.toSeconds()
                + " s (guards fire after " + CHECKPOINT.maxFrozen().toSeconds() + " s)").atMost(atMost)
                .until(() -> Invariants.frozenGroups(cluster).isEmpty());
    }

    /**
     * The context that drives the cycle's operation: for a lost commit answer, one whose own client
     * ({@link #clientThatGivesUpAtOnce}) loses ZooKeeper right after the commit multi reached it; for a
     * clock skew, one whose clock is the drawn minutes off; else the cluster's.
     */
    private CoordinatorContext coordinatorFor(Cycle cycle) throws Exception {
        CoordinatorContext real = coordinator();
        return switch (cycle.fault()) {
            case ZK_LOST_COMMIT_REPLY -> CoordinatorContext.create(ZooKeeperLostAfterCommit.wrap(clientThatGivesUpAtOnce(), () -> {
                        zkDown.set(true);
                        cluster.zkServer().stop();
                        commitReplyLost.set(true);
                    }), real.layout(), real.store(), Clock.systemUTC(), real.clients());
            case CLOCK_SKEW -> CoordinatorContext.create(real.zk(), real.layout(), real.store(),
                    Clock.offset(Clock.systemUTC(), Duration.ofMinutes(cycle.clockSkewMinutes())), real.clients());
            default -> real;
        };
    }

    /**
     * A coordinator client whose calls fail 300 ms after ZooKeeper is lost, without retries. With
     * ZkClients' retries (3, backing off up to 1 s) each of the eight or so calls the coordinator
     * makes after the lost commit answer (read the decision, try to record ABORT, delete its owner
     * node and group lock) took about 2.4 s, 20 s a cycle. ZooKeeper stays stopped until the
     * operation gave up, so no retry could have reached it: what the cycle checks is the same.
     */
    private CuratorFramework clientThatGivesUpAtOnce() throws InterruptedException {
        CuratorFramework client = CuratorFrameworkFactory.builder().connectString(cluster.zkConnect())
                .sessionTimeoutMs(Math.toIntExact(cluster.sessionTimeout().toMillis())).connectionTimeoutMs(300)
                .retryPolicy(new RetryNTimes(0, 0)).build();
        client.start();
        if (!client.blockUntilConnected(30, TimeUnit.SECONDS)) {
            client.close();
            throw new IllegalStateException("the lost-commit coordinator's client did not connect to ZooKeeper at "
                    + cluster.zkConnect() + " within 30 s");
        }
        return client;
    }

    /** SIGTERM to h2's agent JVM, as an operator's stop; its application runs on, and it stays a member. */
    private void stopFaultyAgent() throws Exception {
        epochs.scan(agentLogs());
        Process agent = cluster.agentProcess(FAULTY_HOST).orElseThrow();
        signal("TERM", agent.pid());
        agentKilled.set(true);
        assertThat(agent.waitFor(60, TimeUnit.SECONDS)).as(FAULTY_HOST + "'s agent ends on SIGTERM").isTrue();
        await(FAULTY_HOST + "'s registration is gone").atMost(Duration.ofSeconds(30))
                .until(() -> coordinator().directory().host(FAULTY_HOST).isEmpty());
        assertThat(cluster.cgroups(FAULTY_HOST).forGroup(group).pids()).as(FAULTY_HOST + "'s application after its agent "
                + "stopped").isNotEmpty();
    }

    /** The other host: whose holder the waiter on {@code host} waits for. */
    private static String otherHost(String host) {
        return host.equals(STEADY_HOST) ? FAULTY_HOST : STEADY_HOST;
    }

    /** Each host's holder: locks its own data file with its drawn kind and prints READY. */
    private void startHolders() throws Exception {
        for (String host : HOSTS) {
            int pid = cluster.run(host, group, PythonLockWorker.command(HOLDER_FD, dataFiles.get(host),
                    application.holderOn(host)));
            cluster.awaitReady(host, group, pid);
        }
    }

    /**
     * Each host's waiter: waits (F_SETLKW, F_OFD_SETLKW or flock) for the lock the other host's
     * holder holds and prints READY once it gets it: checkpointed while it waits, restored as a waiter.
     */
    private void startWaiters() throws Exception {
        for (String host : HOSTS) {
            Path holderFile = dataFiles.get(otherHost(host));
            cluster.run(host, group, PythonLockWorker.command(WAITER_FD, holderFile, application.waiterOn(host)));
        }
        awaitWaitersBlocked();
    }

    /**
     * Both waiters wait in the kernel: /proc/locks lists a waiting lock on each holder's file (by
     * inode: an OFD lock shows no pid there). A checkpoint taken before that would record a waiter
     * that does not wait yet, whose restore nothing holds back.
     */
    private void awaitWaitersBlocked() throws Exception {
        for (String host : HOSTS) {
            ProcLocksSnapshot.FileId file = ProcLocksSnapshot.fileIdOf(dataFiles.get(otherHost(host)));
            await(host + "'s waiter (" + application.waiterOn(host) + ") blocks on " + otherHost(host) + "'s "
                    + application.holderOn(otherHost(host)) + " lock").atMost(Duration.ofSeconds(60))
                    .until(() -> ProcLocksSnapshot.read().entries().stream().anyMatch(l -> l.waiter() && file.lockedBy(l)));
        }
    }

    /**
     * No restored waiter ran before its holder's lock was held again: while a host's holder lives,
     * the other host's waiter has not got its lock (it prints READY when it does). Both directions,
     * whatever the lock kinds.
     */
    private void assertNoWaiterRanWhileItsHolderLives() throws Exception {
        for (String holderHost : HOSTS) {
            String holderData = dataFiles.get(holderHost).toString();
            List<Integer> holders = workersOn(holderHost, holderData);
            if (holders.isEmpty()) {
                continue;
            }
            String waiterHost = otherHost(holderHost);
            for (int waiter : workersOn(waiterHost, holderData)) {
                assertThat(output(waiter)).as("output of " + waiterHost + "'s " + application.waiterOn(waiterHost)
                        + " waiter (pid " + waiter + ") for the " + application.holderOn(holderHost) + " lock on "
                        + holderData + " while its holder on " + holderHost + " lives (pid " + holders + "); "
                        + processesAndLocks())
                        .doesNotContain("READY");
            }
        }
    }

    /**
     * For a failure's message: each process of the group (host, pid, state, command line, the
     * holder's and the waiter's fds with their locks from fdinfo, its output) and the /proc/locks lines on the group's files.
     */
    private String processesAndLocks() {
        StringBuilder text = new StringBuilder("processes:");
        try {
            for (String host : HOSTS) {
                for (int pid : cluster.cgroups(host).forGroup(group).pids()) {
                    Path proc = Path.of("/proc", Integer.toString(pid));
                    text.append("\n  ").append(host).append(" pid ").append(pid);
                    try {
                        String state = Files.readAllLines(proc.resolve("status")).stream()
                                .filter(line -> line.startsWith("State:")).findFirst().orElse("State: ?");
                        text.append(' ').append(state.replace('\t', ' ')).append(" wchan=")
                                .append(Files.readString(proc.resolve("wchan"))).append(" cmdline=")
                                .append(PythonLockWorker.shortened(Files.readString(proc.resolve("cmdline")).replace('\0', ' ')));
                        for (String fd : List.of(HOLDER_FD, WAITER_FD)) {
                            Path link = proc.resolve("fd").resolve(fd);
                            if (Files.exists(link, java.nio.file.LinkOption.NOFOLLOW_LINKS)) {
                                text.append("\n    fd ").append(fd).append(" -> ").append(Files.readSymbolicLink(link))
                                        .append(" fdinfo: ").append(Files.readString(proc.resolve("fdinfo").resolve(fd))
                                                .replace('\n', ' ').replace('\t', ' '));
                            }
                        }
                        text.append("\n    output: ").append(output(pid).replace('\n', '|'));
                    } catch (java.io.IOException gone) {
                        text.append(" (gone)");
                    }
                }
            }
            Set<ProcLocksSnapshot.FileId> files = dataFileIds();
            text.append("\n/proc/locks on the group's files (").append(files).append("):");
            for (String line : Files.readAllLines(Path.of("/proc/locks"))) {
                LockEntry entry = LockEntry.parse(line);
                if (files.stream().anyMatch(file -> file.lockedBy(entry))) {
                    text.append("\n  ").append(line);
                }
            }
        } catch (Exception e) {
            text.append(" (could not read: ").append(e).append(')');
        }
        return text.toString();
    }

    /** The group's processes on {@code host} whose command line names {@code file} (stubs name none). */
    private List<Integer> workersOn(String host, String file) throws Exception {
        List<Integer> found = new ArrayList<>();
        for (int pid : cluster.cgroups(host).forGroup(group).pids()) {
            try {
                String cmdline = Files.readString(Path.of("/proc", Integer.toString(pid), "cmdline")).replace('\0', ' ');
                if (cmdline.contains(file)) {
                    found.add(pid);
                }
            } catch (java.io.IOException gone) {
                // exited meanwhile
            }
        }
        return found;
    }

    private static String output(int pid) {
        try {
            return Files.readString(Files.readSymbolicLink(Path.of("/proc", Integer.toString(pid), "fd", "1")));
        } catch (java.io.IOException gone) {
            return "";
        }
    }

    private Optional<Decision> decisionOf(String opId) throws Exception {
        return new Decisions(coordinator().zk(), cluster.layout()).read(group, opId);
    }

    private void assertDecisionsNeverChange() throws Exception {
        Decisions decisions = new Decisions(coordinator().zk(), cluster.layout());
        for (String opId : children(cluster.layout().ops(group))) {
            Optional<Decision> now = decisions.read(group, opId);
            Decision before = decisionsSeen.get(opId);
            if (before != null) {
                assertThat(now).as("decision of op " + opId + " once it was " + before).contains(before);
            }
            now.ifPresent(d -> decisionsSeen.put(opId, d));
        }
    }

    /** After a committed restore, /proc/locks holds exactly the checkpoint's held locks, owned by the group's processes. */
    private void assertHeldLocksAreTheManifests(String checkpointId) throws Exception {
        Set<String> expected = new TreeSet<>();
        CatalogEntry entry = new Catalog(coordinator()).resolve(group, checkpointId);
        for (CatalogManifest stored : entry.getManifestsList()) {
            Manifest manifest = ManifestCodec.decode(coordinator().store().readVerified(group, checkpointId,
                    stored.getHostId(), stored.getSha256(), stored.getSize()));
            for (ProcessRecord process : manifest.getProcessesList()) {
                for (LockRecord lock : process.getLocksList()) {
                    if (!lock.getWaiting()) {
                        expected.add(withoutPid(ProcLocksSnapshot.key(process.getPid(), lock)));
                    }
                }
            }
        }
        assertThat(expected).as("held locks in checkpoint " + checkpointId).hasSize(HOSTS.size());
        AtomicReference<Set<String>> actual = new AtomicReference<>();
        try {
            await("the restored group holds the manifests' locks").atMost(Duration.ofSeconds(30)).until(() -> {
                actual.set(groupHeldLocks());
                return actual.get().equals(expected);
            });
        } catch (org.awaitility.core.ConditionTimeoutException e) {
            assertThat(actual.get()).as("/proc/locks of the restored group vs checkpoint " + checkpointId + "; "
                    + application + "; " + processesAndLocks()).isEqualTo(expected);
        }
    }

    private Set<String> groupHeldLocks() throws Exception {
        List<Integer> pids = new ArrayList<>();
        for (String host : HOSTS) {
            pids.addAll(cluster.cgroups(host).forGroup(group).pids());
        }
        Set<String> keys = new TreeSet<>();
        ProcLocksSnapshot.read().heldKeysOf(pids).forEach(key -> keys.add(withoutPid(key)));
        return keys;
    }

    /** Pids change on restore; each host's worker holds its own file's lock, so the rest of the key identifies it. */
    private static String withoutPid(String key) {
        return key.replaceAll(" pid=\\d+$", "");
    }

    private void assertNothingLockedOnData() throws Exception {
        Set<ProcLocksSnapshot.FileId> files = dataFileIds();
        await("nothing holds a lock on the group's files after the restore aborted").atMost(Duration.ofSeconds(30))
                .until(() -> ProcLocksSnapshot.read().entries().stream()
                        .noneMatch(l -> files.stream().anyMatch(file -> file.lockedBy(l))));
    }

    /** The group's data files by device and inode: other tests' tmpfs files share the inode numbers. */
    private Set<ProcLocksSnapshot.FileId> dataFileIds() throws Exception {
        Set<ProcLocksSnapshot.FileId> files = new HashSet<>();
        for (Path data : dataFiles.values()) {
            files.add(ProcLocksSnapshot.fileIdOf(data));
        }
        return files;
    }

    private void killApplication() throws Exception {
        cluster.killApplications();
        // A killed process leaves its cgroup before the kernel has dropped all of its locks.
        assertNothingLockedOnData();
    }

    /** A restore that did not commit left the group dead: one without fault must bring it back. */
    private void restoreAgain(String checkpointId) throws Exception {
        await("a restore without fault commits (last failure: see message)").atMost(RECOVERY)
                .pollDelay(Duration.ZERO).pollInterval(Duration.ofMillis(500))
                .until(() -> attempt(this::measuredRestore), Objects::nonNull);
        Invariants.assertAll(cluster);
        assertHeldLocksAreTheManifests(checkpointId);
        awaitRestoredWorkersReady();
    }

    /**
     * A restored worker runs its steps again and prints READY into the fresh output file its agent
     * gave it (agent output files are the agent's: never validated, created anew at each restore).
     * The next checkpoint waits until every host's restored worker is that far, so that it captures
     * a worker that runs, not one still starting.
     */
    private void awaitRestoredWorkersReady() throws Exception {
        for (String host : HOSTS) {
            await("the restored holder on " + host + " has printed READY").atMost(Duration.ofSeconds(60))
                    .until(() -> readyLines(host) >= 1);
        }
        awaitWaitersBlocked();
    }

    /** READY lines in the output of the host's holder. */
    private int readyLines(String host) throws Exception {
        int ready = 0;
        for (int pid : workersOn(host, dataFiles.get(host).toString())) {
            try {
                String out = Files.readString(Files.readSymbolicLink(Path.of("/proc", Integer.toString(pid), "fd", "1")));
                ready = Math.max(ready, out.split("READY", -1).length - 1);
            } catch (java.io.IOException gone) {
                // not (yet) the restarted program, or gone
            }
        }
        return ready;
    }

    /** A restore without fault that commits; what remained of it after each moment is kept for drawing delays. */
    private String measuredRestore() throws Exception {
        PhaseTimeline timeline = new PhaseTimeline();
        RestoreResult restored = new RestoreOperation(coordinator(), RESTORE, timeline).run(group);
        timeline.ended();
        assertThat(restored.releaseFailures()).as("release failures of a restore without fault").isEmpty();
        assertThat(restored.handOverTimeouts()).as("hand-over timeouts of a restore without fault").isEmpty();
        String opId = restored.opId();
        measuredRemainingMillis.put(Operation.RESTORE, timeline.remainingMillis());
        return opId;
    }

    /** Restores the fresh cluster's first checkpoint once, without fault, to measure a restore's phases. */
    private void measureARestore() throws Exception {
        String checkpointId = latest();
        killApplication();
        restoreAgain(checkpointId);
        proveUsable();
    }

    /** The group is usable: a checkpoint without fault commits (retried while a fault's session lingers). */
    private void proveUsable() throws Exception {
        AtomicReference<CheckpointResult> result = new AtomicReference<>();
        try {
            await("a checkpoint without fault commits").atMost(RECOVERY).pollDelay(Duration.ZERO)
                    .pollInterval(Duration.ofMillis(500))
                    .until(() -> attempt(() -> {
                        PhaseTimeline timeline = new PhaseTimeline();
                        result.set(new CheckpointOperation(coordinator(), CHECKPOINT, timeline).run(group));
                        timeline.ended();
                        measuredRemainingMillis.put(Operation.CHECKPOINT, timeline.remainingMillis());
                        return result.get().checkpointId();
                    }), Objects::nonNull);
        } catch (org.awaitility.core.ConditionTimeoutException e) {
            throw new AssertionError("group " + group + " not usable again: " + lastRecoveryFailure, e);
        }
        Invariants.assertAll(cluster);
        previousOp = OpContext.newBuilder().setGroup(group).setOpId(result.get().checkpointId())
                .setEpoch(result.get().epoch()).build();
    }

    private interface Attempt {
        String run() throws Exception;
    }

    private String attempt(Attempt attempt) {
        try {
            return attempt.run();
        } catch (Exception e) {
            lastRecoveryFailure = e.toString();
            return null;
        }
    }

    private Optional<OpRecord> newestOp() throws Exception {
        OpRecord newest = null;
        for (String opId : children(cluster.layout().ops(group))) {
            String path = cluster.layout().op(group, opId);
            try {
                OpRecord record = ZkJson.parse(coordinator().zk().getData().forPath(path), OpRecord.getDefaultInstance(), path);
                if (newest == null || record.getEpoch() > newest.getEpoch()) {
                    newest = record;
                }
            } catch (KeeperException.NoNodeException removed) {
                // retention removed it meanwhile
            }
        }
        return Optional.ofNullable(newest);
    }

    private String latest() throws Exception {
        return new String(coordinator().zk().getData().forPath(cluster.layout().latest(group)), StandardCharsets.UTF_8);
    }

    private List<String> children(String path) throws Exception {
        try {
            return coordinator().zk().getChildren().forPath(path);
        } catch (KeeperException.NoNodeException none) {
            return List.of();
        }
    }

    private Path agentLog(String host) {
        return cluster.dir().resolve("agent-" + host + ".log");
    }

    private List<Path> agentLogs() {
        return List.of(agentLog(FAULTY_HOST));
    }

    @Override
    public void close() throws Exception {
        timer.shutdownNow();
        try {
            resumeAgent();
            restartZooKeeper();
            if (coordinatorJvm != null) {
                coordinatorJvm.destroyForcibly().waitFor(30, TimeUnit.SECONDS);
            }
        } finally {
            cluster.killApplications();
        }
    }

    /**
     * The schedule's end on the shared cluster: its group's processes killed, and nothing of the
     * group left behind for the next schedule — no process or stub in any cgroup of the cluster,
     * nothing frozen, no lock on its files, no member left, no op undecided, both agents live.
     */
    void endAndCheckNothingLeft() throws Exception {
        Laps laps = new Laps();
        killApplication();
        Invariants.assertAll(cluster);
        for (String host : HOSTS) {
            assertThat(cluster.cgroups(host).forGroup(group).pids()).as("processes of group " + group + " on " + host
                    + " after the schedule's end").isEmpty();
            assertThat(coordinator().directory().host(host)).as("registration of " + host + "'s agent after the schedule")
                    .isPresent();
        }
        await("no host is a member of group " + group + " once its processes are gone").atMost(Duration.ofSeconds(30))
                .until(() -> children(cluster.layout().members(group)).isEmpty());
        for (String opId : children(cluster.layout().ops(group))) {
            assertThat(decisionOf(opId)).as("decision of op " + opId + " of group " + group + " after the schedule")
                    .isPresent();
        }
        epochs.scan(agentLogs());
        assertThat(epochs.violations()).as("agents acting on an epoch older than one they had seen").isEmpty();
        laps.lap("reset");
        System.out.println("schedule reset (group " + group + "): " + laps);
        summary.resetEnded(laps);
    }
}
