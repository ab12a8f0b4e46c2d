package io.lockstep.coordinator.schedules;

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
import io.lockstep.zk.ZkClients;
import io.lockstep.zk.ZkJson;
import org.apache.zookeeper.KeeperException;

import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Clock;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
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
 * One schedule on its own cluster: ZooKeeper, host h1 as an agent in this JVM, host h2 as an
 * agent JVM (so that a kill or a pause is real), one lock-holding worker per host. Each cycle
 * runs one operation with its fault, heals the fault, checks every invariant, and proves the
 * group usable again (a restore that aborted is retried without fault, then a checkpoint must
 * commit), so the next cycle starts from a known state. {@link #close} undoes every fault and
 * removes everything, also after a failed check.
 */
final class ScheduleRun implements AutoCloseable {
    static final String GROUP = "app";
    private static final String STEADY_HOST = "h1";
    private static final String FAULTY_HOST = "h2";
    private static final List<String> HOSTS = List.of(STEADY_HOST, FAULTY_HOST);
    private static final Duration SHORT_FAULT = Duration.ofMillis(1500);
    /** Past the ZooKeeper session timeout (4 s): sessions expire, agents act on their own. */
    private static final Duration LONG_FAULT = LocalCluster.SESSION_TIMEOUT.plusSeconds(3);
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
    private static final RestoreOptions RESTORE = RestoreOptions.defaults().withAllowRoot(true)
            .withTimeout(Duration.ofSeconds(30));
    private static final Duration RECOVERY = Duration.ofSeconds(90);
    private static final String COMMITTED = "committed ";

    private final LocalCluster cluster;
    private final ScheduleSummary summary;
    private final AgentEpochLog epochs = new AgentEpochLog();
    private final ScheduledExecutorService timer = Executors.newSingleThreadScheduledExecutor(runnable -> {
        Thread thread = new Thread(runnable, "fault-schedule-timer");
        thread.setDaemon(true);
        return thread;
    });
    private final Map<String, Path> dataFiles = new HashMap<>();
    private final Map<String, Decision> decisionsSeen = new HashMap<>();
    /** Per operation, the time left after each moment in its latest run without fault. */
    private final Map<Operation, Map<String, Long>> measuredRemainingMillis = new java.util.EnumMap<>(Operation.class);
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
    /** How often each host's worker has printed READY into its (restored) stdout: once per start and committed restore. */

    private ScheduleRun(LocalCluster cluster, ScheduleSummary summary) {
        this.cluster = cluster;
        this.summary = summary;
    }

    static ScheduleRun start(ScheduleSummary summary) throws Exception {
        Laps laps = new Laps();
        ScheduleRun run = new ScheduleRun(LocalCluster.start(), summary);
        try {
            laps.lap("zookeeper");
            run.cluster.startAgent(STEADY_HOST);
            run.cluster.startAgentProcess(FAULTY_HOST);
            laps.lap("agents");
            Path export = Files.createDirectories(run.cluster.dir().resolve("export"));
            for (String host : HOSTS) {
                Path data = export.resolve("data-" + host);
                run.dataFiles.put(host, data);
                int pid = run.cluster.run(host, GROUP, LocalCluster.worker("fd", "500", data.toString(), "lock", "posix",
                        "write", "500", "0", "10", "ready", "sleep"));
                run.cluster.awaitReady(host, GROUP, pid);
            }
            laps.lap("workers");
            run.startWaiter();
            laps.lap("waiter");
            run.proveUsable();
            laps.lap("first checkpoint");
            run.measureARestore();
            laps.lap("measured restore");
            System.out.println("schedule set-up: " + laps);
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
        List<String> membersBefore = children(cluster.layout().members(GROUP));
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
        // Stubs killed after the confirm round and a committed restore: h2's processes are gone.
        boolean committedWithoutH2 = cycle.fault() == FaultKind.STUB_KILL_AFTER_CONFIRM && injected && committed;
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
                return COMMITTED + new CheckpointOperation(driving, CHECKPOINT, listener).run(GROUP).checkpointId();
            }
            RestoreResult restored = new RestoreOperation(driving, RESTORE, listener).run(GROUP);
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
                case STUB_KILL, STUB_KILL_AFTER_CONFIRM -> {
                    // h2's group holds only the restore's stubs now (the application was killed before).
                    Set<Integer> stubs = cluster.cgroups(FAULTY_HOST).forGroup(GROUP).pids();
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
                    Path blocked = cluster.fileStore().checkpointDir(GROUP, opId);
                    Files.createDirectories(blocked.getParent());
                    Files.writeString(blocked, "store fault injected by the fault schedule");
                    storeBlock.set(blocked);
                }
            }
        } catch (Exception e) {
            throw new IllegalStateException("could not inject " + cycle.fault() + ": " + e, e);
        }
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
                "-cp", System.getProperty("java.class.path"), PausingCoordinator.class.getName(), cluster.zkConnect(),
                cluster.zkRoot(), cluster.fileStore().root().toString(), GROUP, cycle.moment()));
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
            cluster.startAgentProcess(FAULTY_HOST);
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
        Invariants.assertNoStubs(cluster);
        Optional<Decision> decision = Optional.empty();
        if (opId.isPresent()) {
            // Decided by its coordinator or by an agent; or orphaned (its coordinator's session is gone
            // before any agent watched it), for the next operation to abort.
            String path = cluster.layout().owner(GROUP, opId.get());
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
            CatalogEntry committed = new Catalog(coordinator()).resolve(GROUP, opId.orElseThrow());
            assertThat(committed.getManifestsList().stream().map(CatalogManifest::getHostId).toList())
                    .as("hosts of committed checkpoint " + opId.get() + ": every member when it opened")
                    .containsExactlyInAnyOrderElementsOf(membersBefore);
        }
        if (cycle.fault() == FaultKind.STUB_KILL && injected) {
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
        if (cycle.fault() == FaultKind.STUB_KILL_AFTER_CONFIRM && injected && decision.map(Decision::isCommit).orElse(false)) {
            assertThat(returned).as("a committed restore whose stubs on " + FAULTY_HOST + " died before the release")
                    .contains("release failed on").contains(FAULTY_HOST);
        }
        if (cycle.fault() == FaultKind.STORE_WRITE_FAILURE && injected) {
            assertThat(decision).as("decision of the op whose manifest could not be written")
                    .hasValueSatisfying(d -> assertThat(d.isCommit()).isFalse());
        }
        if (cycle.operation() == Operation.RESTORE) {
            if (decision.map(Decision::isCommit).orElse(false)) {
                if (!(cycle.fault() == FaultKind.STUB_KILL_AFTER_CONFIRM && injected)) {
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
     * (1 s connection timeout, so its retries run out in seconds) loses ZooKeeper right after the
     * commit multi reached it; for a clock skew, one whose clock is the drawn minutes off; else the cluster's.
     */
    private CoordinatorContext coordinatorFor(Cycle cycle) throws Exception {
        CoordinatorContext real = coordinator();
        return switch (cycle.fault()) {
            case ZK_LOST_COMMIT_REPLY -> CoordinatorContext.create(ZooKeeperLostAfterCommit.wrap(
                    ZkClients.connect(cluster.zkConnect(), LocalCluster.SESSION_TIMEOUT, Duration.ofSeconds(1)), () -> {
                        zkDown.set(true);
                        cluster.zkServer().stop();
                        commitReplyLost.set(true);
                    }), real.layout(), real.store(), Clock.systemUTC(), real.clients());
            case CLOCK_SKEW -> CoordinatorContext.create(real.zk(), real.layout(), real.store(),
                    Clock.offset(Clock.systemUTC(), Duration.ofMinutes(cycle.clockSkewMinutes())), real.clients());
            default -> real;
        };
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
        assertThat(cluster.cgroups(FAULTY_HOST).forGroup(GROUP).pids()).as(FAULTY_HOST + "'s application after its agent "
                + "stopped").isNotEmpty();
    }

    /**
     * A worker on h1 that waits (F_SETLKW) for the lock h2's worker holds and prints READY once it
     * gets it: checkpointed while it waits, restored as a waiter.
     */
    private void startWaiter() throws Exception {
        int pid = cluster.run(STEADY_HOST, GROUP, LocalCluster.worker("fd", "501", dataFiles.get(FAULTY_HOST).toString(),
                "lock", "posix", "write", "501", "0", "10", "ready", "sleep"));
        await("h1's waiter blocks on h2's lock").atMost(Duration.ofSeconds(60))
                .until(() -> !ProcLocksSnapshot.read().waitingOf(pid).isEmpty());
    }

    /**
     * No restored waiter ran before its holder's lock was held again: while h2's worker (the
     * holder) lives, h1's waiter has not got the lock (it prints READY when it does).
     */
    private void assertNoWaiterRanWhileItsHolderLives() throws Exception {
        String holderData = dataFiles.get(FAULTY_HOST).toString();
        List<Integer> holders = workersOn(FAULTY_HOST, holderData);
        if (holders.isEmpty()) {
            return;
        }
        for (int waiter : workersOn(STEADY_HOST, holderData)) {
            assertThat(output(waiter)).as("output of h1's waiter (pid " + waiter + ") for the lock on " + holderData
                    + " while its holder lives (pid " + holders + ")").doesNotContain("READY");
        }
    }

    /** The group's processes on {@code host} whose command line names {@code file} (stubs name none). */
    private List<Integer> workersOn(String host, String file) throws Exception {
        List<Integer> found = new ArrayList<>();
        for (int pid : cluster.cgroups(host).forGroup(GROUP).pids()) {
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
        return new Decisions(coordinator().zk(), cluster.layout()).read(GROUP, opId);
    }

    private void assertDecisionsNeverChange() throws Exception {
        Decisions decisions = new Decisions(coordinator().zk(), cluster.layout());
        for (String opId : children(cluster.layout().ops(GROUP))) {
            Optional<Decision> now = decisions.read(GROUP, opId);
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
        CatalogEntry entry = new Catalog(coordinator()).resolve(GROUP, checkpointId);
        for (CatalogManifest stored : entry.getManifestsList()) {
            Manifest manifest = ManifestCodec.decode(coordinator().store().readVerified(GROUP, checkpointId,
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
            assertThat(actual.get()).as("/proc/locks of the restored group vs checkpoint " + checkpointId)
                    .isEqualTo(expected);
        }
    }

    private Set<String> groupHeldLocks() throws Exception {
        List<Integer> pids = new ArrayList<>();
        for (String host : HOSTS) {
            pids.addAll(cluster.cgroups(host).forGroup(GROUP).pids());
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
        Set<Long> inodes = dataInodes();
        await("nothing holds a lock on the group's files after the restore aborted").atMost(Duration.ofSeconds(30))
                .until(() -> ProcLocksSnapshot.read().entries().stream().noneMatch(l -> inodes.contains(l.inode())));
    }

    private Set<Long> dataInodes() throws Exception {
        Set<Long> inodes = new TreeSet<>();
        for (Path data : dataFiles.values()) {
            inodes.add(((Number) Files.getAttribute(data, "unix:ino")).longValue());
        }
        return inodes;
    }

    private void killApplication() throws Exception {
        cluster.killApplications();
        // A killed process leaves its cgroup before the kernel has dropped all of its locks.
        assertNothingLockedOnData();
    }

    /** A restore that did not commit left the group dead: one without fault must bring it back. */
    private void restoreAgain(String checkpointId) throws Exception {
        await("a restore without fault commits (last failure: see message)").atMost(RECOVERY)
                .pollInterval(Duration.ofSeconds(2))
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
    private void awaitRestoredWorkersReady() {
        for (String host : HOSTS) {
            await("the restored worker on " + host + " has printed READY").atMost(Duration.ofSeconds(60))
                    .until(() -> readyLines(host) >= 1);
        }
    }

    private int readyLines(String host) throws Exception {
        int ready = 0;
        for (int pid : cluster.cgroups(host).forGroup(GROUP).pids()) {
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
        String opId = new RestoreOperation(coordinator(), RESTORE, timeline).run(GROUP).opId();
        timeline.ended();
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
            await("a checkpoint without fault commits").atMost(RECOVERY).pollInterval(Duration.ofSeconds(2))
                    .until(() -> attempt(() -> {
                        PhaseTimeline timeline = new PhaseTimeline();
                        result.set(new CheckpointOperation(coordinator(), CHECKPOINT, timeline).run(GROUP));
                        timeline.ended();
                        measuredRemainingMillis.put(Operation.CHECKPOINT, timeline.remainingMillis());
                        return result.get().checkpointId();
                    }), Objects::nonNull);
        } catch (org.awaitility.core.ConditionTimeoutException e) {
            throw new AssertionError("group " + GROUP + " not usable again: " + lastRecoveryFailure, e);
        }
        Invariants.assertAll(cluster);
        previousOp = OpContext.newBuilder().setGroup(GROUP).setOpId(result.get().checkpointId())
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
        for (String opId : children(cluster.layout().ops(GROUP))) {
            String path = cluster.layout().op(GROUP, opId);
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
        return new String(coordinator().zk().getData().forPath(cluster.layout().latest(GROUP)), StandardCharsets.UTF_8);
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
            epochs.close();
            cluster.close();
        }
    }
}
