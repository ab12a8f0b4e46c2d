package io.lockstep.bench.checkpoint;

import io.lockstep.agent.capture.CaptureScope;
import io.lockstep.agent.capture.GroupCapturer;
import io.lockstep.agent.cgroup.Freezer;
import io.lockstep.agent.server.AgentConfig;
import io.lockstep.agent.server.AgentServer;
import io.lockstep.agent.server.ManagedGroup;
import io.lockstep.bench.BenchConfig;
import io.lockstep.bench.BenchSuite;
import io.lockstep.bench.Result;
import io.lockstep.bench.count.RpcCounter;
import io.lockstep.bench.count.ZkRequestCounter;
import io.lockstep.bench.harness.Samples;
import io.lockstep.coordinator.agents.AgentClients;
import io.lockstep.coordinator.checkpoint.CheckpointOperation;
import io.lockstep.coordinator.checkpoint.CheckpointOptions;
import io.lockstep.coordinator.op.CheckpointResult;
import io.lockstep.coordinator.op.CoordinatorContext;
import io.lockstep.coordinator.op.OperationListener;
import io.lockstep.coordinator.store.FileCheckpointStore;
import io.lockstep.proto.AgentGrpc;
import io.lockstep.proto.RunRequest;
import io.lockstep.zk.ZkClients;
import io.lockstep.zk.ZkLayout;
import io.grpc.ManagedChannel;
import io.grpc.netty.shaded.io.grpc.netty.NettyChannelBuilder;
import org.apache.curator.framework.CuratorFramework;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Clock;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Set;
import java.util.UUID;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.locks.LockSupport;

/**
 * Checkpoint latency and frozen window for 1, 4, 16, 64 and 256 agents (several per JVM, each
 * with its own ZooKeeper session, gRPC server, cgroup root and one small process) against a
 * 3-server ZooKeeper ensemble in its own JVM; next to (a) the per-host floor — freeze + capture +
 * thaw of one host's group alone, the slowest host counted — and (b) the ZooKeeper requests and
 * agent RPCs one checkpoint costs, counted on every client. The barrier against Curator's is
 * {@link BarrierSuite}.
 */
public final class CheckpointSuite implements BenchSuite {
    private static final List<Integer> FULL_SIZES = List.of(1, 4, 16, 64, 256);
    private static final List<Integer> QUICK_SIZES = List.of(1, 4, 16);
    /** Above this many agents a full run takes fewer samples: each checkpoint takes seconds there. */
    private static final int LARGE = 64;
    static final Duration SESSION_TIMEOUT = Duration.ofSeconds(30);
    private static final Duration MEMBERS_TIMEOUT = Duration.ofMinutes(2);
    /**
     * Longer deadlines than a production default: up to 256 agents share this machine's cores, and
     * freezing 256 groups alone can take longer than the default freeze timeout on a loaded
     * 2-core machine.
     */
    static final CheckpointOptions OPTIONS = new CheckpointOptions(Duration.ofMinutes(3), Duration.ofSeconds(90),
            Duration.ofMinutes(3), Duration.ofSeconds(60));
    /** Agents start this many at a time: a start is mostly waiting on ZooKeeper. */
    private static final int STARTERS = 8;
    /**
     * Unmeasured checkpoints between the first and the measured ones, at most this many and for at
     * most {@link #WARM_UP_TIME}: the JIT compiles the window's code by invocation counts, so a
     * handful of checkpoints leaves much of it interpreted and the compiler threads busy inside the
     * window (counted in window-cores-busy), where an agent that checkpoints periodically is past that.
     */
    static final int WARM_UP_CHECKPOINTS = 30;
    static final Duration WARM_UP_TIME = Duration.ofSeconds(15);
    /** Samples of each ZooKeeper hop floor per agent count. */
    private static final int HOP_SAMPLES = 20;

    /** How long the last size's warm-up checkpoints took (the suite's estimate leaves them out). */
    private Duration lastWarmUp = Duration.ZERO;

    @Override
    public String name() {
        return "checkpoint";
    }

    @Override
    public Duration budget() {
        return Duration.ofSeconds(330);
    }

    @Override
    public void run(BenchConfig config, List<Result> results) throws Exception {
        List<Integer> sizes = !config.agentCounts().isEmpty() ? config.agentCounts()
                : config.quick() ? QUICK_SIZES : FULL_SIZES;
        try (Ensemble ensemble = Ensemble.start(); WindowCpu cpu = WindowCpu.open(ensemble.pid())) {
            Duration previous = Duration.ZERO;
            int previousAgents = 1;
            int previousRuns = 1;
            for (int agents : sizes) {
                int runs = agents > LARGE ? config.runs(3, 2) : config.runs(5, 3);
                // Cost grows about linearly in agents and in checkpoints (runs + the first): skip what
                // cannot finish in time. The warm-up checkpoints stop at WARM_UP_TIME whatever the size.
                Duration estimate = previous.minus(lastWarmUp)
                        .multipliedBy(Math.max(1, agents / previousAgents) * (runs + 1L)).dividedBy(previousRuns + 1L)
                        .plus(config.quick() ? Duration.ZERO : WARM_UP_TIME);
                String caseName = agents + " agents";
                if (!config.fits(estimate)) {
                    results.add(Result.failure(name(), caseName, new IllegalStateException("skipped: estimated "
                            + estimate.toSeconds() + " s from the previous size would pass the suite's budget")));
                    continue;
                }
                long t = System.nanoTime();
                try {
                    results.addAll(measure(ensemble.connectString(), cpu, agents, runs, config.quick() ? 0 : WARM_UP_CHECKPOINTS));
                } catch (Exception e) {
                    e.printStackTrace();
                    results.add(Result.failure(name(), caseName, e));
                }
                previous = Duration.ofNanos(System.nanoTime() - t);
                previousAgents = agents;
                previousRuns = runs;
                System.err.printf("  %s: %.1f s%n", caseName, previous.toMillis() / 1e3);
            }
        }
    }

    private List<Result> measure(String connect, WindowCpu cpu, int agentCount, int runs, int warmUps) throws Exception {
        String id = UUID.randomUUID().toString().substring(0, 8);
        Path dir = Files.createTempDirectory("lockstep-bench-ckpt-");
        List<AgentServer> agents = new ArrayList<>();
        ZkRequestCounter zkCounter = new ZkRequestCounter();
        RpcCounter rpcCounter = new RpcCounter();
        String root = "/lockstep-bench-" + id;
        // A run stopped at its hard budget exits without this method's finally: kill what the agents run.
        Thread killGroups = new Thread(() -> killGroups(agents), "bench-checkpoint-cleanup");
        Runtime.getRuntime().addShutdownHook(killGroups);
        try {
            startAgents(agents, connect, root, id, dir, agentCount);
            agents.forEach(agent -> zkCounter.attach(agent.zk()));
            CuratorFramework zk = ZkClients.connect(connect, SESSION_TIMEOUT, Duration.ofSeconds(30));
            // watches the barriers empty out between runs; its own requests are not counted
            CuratorFramework observer = ZkClients.connect(connect, SESSION_TIMEOUT, Duration.ofSeconds(30));
            try {
                zkCounter.attach(zk);
                ZkLayout layout = new ZkLayout(root);
                CoordinatorContext ctx = CoordinatorContext.create(zk, layout, new FileCheckpointStore(dir.resolve("store")),
                        Clock.systemUTC(), new AgentClients(Optional.empty(), List.of(rpcCounter)));
                awaitMembers(ctx, agentCount);
                long[] latency = new long[runs];
                long[] window = new long[runs];
                Map<String, List<Long>> phases = new LinkedHashMap<>();
                Quiescence quiet = new Quiescence(observer, layout, "bench");
                // The first checkpoint after the agents started: reported against the warm median.
                CheckpointResult first = new CheckpointOperation(ctx, OPTIONS, OperationListener.SILENT).run("bench");
                quiet.await(first.checkpointId());
                long warmUpStart = System.nanoTime();
                int warmedUp = warmUp(ctx, quiet, warmUps);
                lastWarmUp = Duration.ofNanos(System.nanoTime() - warmUpStart);
                List<ZkRequestCounter.Counts> zkAt = new ArrayList<>();
                List<Map<String, Long>> rpcAt = new ArrayList<>();
                String callNotes = "";
                for (int r = 0; r < runs; r++) {
                    zkAt.add(zkCounter.counts());
                    rpcAt.add(rpcCounter.counts());
                    boolean traced = r == runs - 1;
                    if (traced) {
                        zkCounter.record();
                    }
                    long start = System.nanoTime();
                    long[] openedAt = new long[1];
                    List<Optional<long[]>> cpuAt = new ArrayList<>(List.of(Optional.empty(), Optional.empty()));
                    Map<String, Long> phaseEndedAt = new LinkedHashMap<>();
                    CheckpointResult result = new CheckpointOperation(ctx, OPTIONS, new OperationListener() {
                        @Override
                        public void opened(String kind, String group, String opId, long epoch) {
                            openedAt[0] = System.nanoTime();
                            cpuAt.set(0, cpu.sample());
                        }

                        @Override
                        public void phaseEnded(String phase, long micros) {
                            phaseEndedAt.put(phase, System.nanoTime());
                            if (phase.equals("thaw")) {
                                cpuAt.set(1, cpu.sample());
                            }
                        }
                    }).run("bench");
                    cpu.add(cpuAt.get(0), cpuAt.get(1));
                    latency[r] = System.nanoTime() - start;
                    if (traced) {
                        phaseEndedAt.put("close", System.nanoTime());
                        callNotes = ZkCallBreakdown.of(zkCounter.recorded(), sessionId(zk), start, openedAt[0], phaseEndedAt)
                                .printAndSummarize(agentCount + " agents");
                    }
                    window[r] = result.frozenWindowMicros() * 1000;
                    // open: lock, stale-op check, members, op record (what precedes the phases)
                    phases.computeIfAbsent("open", k -> new ArrayList<>()).add((openedAt[0] - start) / 1000);
                    result.phaseMicros().forEach((phase, micros) ->
                            phases.computeIfAbsent(phase, k -> new ArrayList<>()).add(micros));
                    // the agents' barrier clean-up after the thaw belongs to this checkpoint's count
                    quiet.await(result.checkpointId());
                }
                zkAt.add(zkCounter.counts());
                rpcAt.add(rpcCounter.counts());
                OpCounts counts = OpCounts.between(zkAt, rpcAt);
                StringBuilder phaseNotes = new StringBuilder("; phase medians:");
                phases.forEach((phase, micros) -> phaseNotes.append(' ').append(phase).append(' ')
                        .append(micros.stream().sorted().toList().get(micros.size() / 2) / 1000).append("ms"));
                Optional<WindowCpu.Summary> windowCpu = cpu.summarizeAndReset();
                long[] floor = hostFloor(agents, runs);
                ZkHopFloor.Samples hops = ZkHopFloor.measure(zk, observer, root, HOP_SAMPLES);
                ctx.clients().close();
                Samples lat = new Samples(latency);
                Samples win = new Samples(window);
                Samples fl = new Samples(floor);
                String c = agentCount + " agents";
                String notes = runs + " runs after " + warmedUp + " unmeasured warm-up checkpoints, 1 process per agent, "
                        + EnsembleMain.SERVERS + "-server ZooKeeper ensemble";
                // What the protocol cannot do without: the hosts' own work, and (for more than one host)
                // per barrier one write (the last entry, whose count child is the signal) and one notification.
                double barrierHops = agentCount == 1 ? 0 : 2 * (new Samples(hops.write()).medianMillis()
                        + new Samples(hops.signal()).medianMillis());
                double protocolFloor = fl.medianMillis() + barrierHops;
                List<Result> figures = new ArrayList<>(List.of(
                        Result.of(name(), c, "checkpoint-latency-median", lat.medianMillis(), "ms", fl.medianMillis(),
                                notes + phaseNotes + callNotes),
                        Result.of(name(), c, "frozen-window-median", win.medianMillis(), "ms", fl.medianMillis(),
                                notes + "; floor = slowest host's freeze+capture+thaw alone"),
                        Result.of(name(), c, "frozen-window-vs-protocol-floor", win.medianMillis(), "ms", protocolFloor,
                                "floor = slowest host's freeze+capture+thaw alone" + (agentCount == 1 ? " (a host alone has no "
                                + "ZooKeeper hop inside its window)" : " + 2 × (ZooKeeper write floor + signal floor): the two"
                                + " barriers' last entries and notifications, measured in the same run")),
                        Result.of(name(), c, "first-frozen-window", first.frozenWindowMicros() / 1000.0, "ms",
                                win.medianMillis(), "the first checkpoint after the agents started; floor = the warm "
                                + "median window of the same run"),
                        Result.of(name(), c, "zk-write-floor", new Samples(hops.write()).medianMillis(), "ms", 0,
                                HOP_SAMPLES + " creates of an ephemeral node on the same ensemble, each answered: the"
                                + " floor of one ZooKeeper write (a multi) inside the window"),
                        Result.of(name(), c, "zk-signal-floor", new Samples(hops.signal()).medianMillis(), "ms", 0,
                                HOP_SAMPLES + " creates on one session until another session's exists watch is notified:"
                                + " the floor of one signal between hosts inside the window"),
                        Result.of(name(), c, "zk-writes-per-checkpoint", counts.zkWrites(), "requests", 0,
                                counts.notes() + "; coordinator and every agent, a multi counts once; by kind " + counts.zkByKind()),
                        Result.of(name(), c, "zk-reads-per-checkpoint", counts.zkReads(), "requests", 0,
                                counts.notes() + "; getData/getChildren/exists, coordinator and every agent"),
                        Result.of(name(), c, "rpcs-per-checkpoint", counts.rpcs(), "calls", 0,
                                counts.notes() + "; coordinator to agents: " + counts.rpcsByMethod())));
                // Without cgroup v1 cpuacct the machine's CPU is not counted, and the row is left out.
                windowCpu.ifPresent(w -> figures.add(Result.of(name(), c, "window-cores-busy-median", w.busyCores(), "cores",
                        Runtime.getRuntime().availableProcessors(), w.note(agentCount))));
                return figures;
            } finally {
                observer.close();
                zk.close();
            }
        } finally {
            // Agents first, while ZooKeeper still answers their goodbyes.
            killGroups(agents);
            for (AgentServer agent : agents) {
                agent.close();
            }
            deleteRoot(connect, root);
            try {
                Runtime.getRuntime().removeShutdownHook(killGroups);
            } catch (IllegalStateException shuttingDown) {
                // the hook runs (or ran) anyway
            }
        }
    }

    /** Up to {@code max} unmeasured checkpoints, for at most {@link #WARM_UP_TIME}; how many ran. */
    static int warmUp(CoordinatorContext ctx, Quiescence quiet, int max) throws Exception {
        int ran = 0;
        for (long until = System.nanoTime() + WARM_UP_TIME.toNanos(); ran < max && System.nanoTime() < until; ran++) {
            quiet.await(new CheckpointOperation(ctx, OPTIONS, OperationListener.SILENT).run("bench").checkpointId());
        }
        return ran;
    }

    /** Kills every agent's group processes, removes the group cgroups and the agent's cgroup root (SIGKILL ends frozen tasks too). */
    static void killGroups(List<AgentServer> agents) {
        List<AgentServer> started;
        synchronized (agents) {
            started = List.copyOf(agents);
        }
        for (AgentServer agent : started) {
            for (ManagedGroup group : agent.groups().all().values()) {
                try {
                    group.cgroup().killAll(Duration.ofSeconds(10));
                    group.cgroup().remove();
                } catch (Exception e) {
                    System.err.println("bench clean-up of " + group.name() + " on " + agent.config().hostId() + ": " + e);
                }
            }
            try {
                agent.groups().layout().removeRootIfEmpty();
            } catch (IOException e) {
                System.err.println("bench clean-up of " + agent.config().hostId() + "'s cgroup root: " + e);
            }
        }
    }

    static void startAgents(List<AgentServer> agents, String connect, String root, String id, Path dir,
                                    int count) throws Exception {
        ExecutorService starters = Executors.newFixedThreadPool(STARTERS);
        try {
            List<CompletableFuture<AgentServer>> started = new ArrayList<>();
            for (int i = 0; i < count; i++) {
                String host = "n" + i;
                started.add(CompletableFuture.supplyAsync(() -> {
                    try {
                        AgentServer agent = new AgentServer(new AgentConfig(host, "127.0.0.1:0", connect, root,
                                "lockstep-bench-" + id + "-" + host, Optional.empty(), dir.resolve(host), SESSION_TIMEOUT,
                                true).withTls(Optional.empty(), true)).start(); // loopback benchmark: plaintext RPCs
                        synchronized (agents) {
                            agents.add(agent); // closed by the caller, also when a later start fails
                        }
                        run(agent.endpoint(), List.of("sleep", "3600"));
                        return agent;
                    } catch (Exception e) {
                        throw new IllegalStateException("agent " + host + " did not start: " + e, e);
                    }
                }, starters));
            }
            CompletableFuture.allOf(started.toArray(CompletableFuture[]::new)).get(10, TimeUnit.MINUTES);
        } finally {
            starters.shutdownNow();
        }
    }

    static long sessionId(CuratorFramework zk) throws Exception {
        return zk.getZookeeperClient().getZooKeeper().getSessionId();
    }

    /** Membership nodes appear asynchronously after Run. */
    static void awaitMembers(CoordinatorContext ctx, int count) throws Exception {
        Instant deadline = Instant.now().plus(MEMBERS_TIMEOUT);
        int members;
        while ((members = ctx.directory().members("bench").size()) < count) {
            if (Instant.now().isAfter(deadline)) {
                throw new IllegalStateException("only " + members + " of " + count + " agents became members of "
                        + "group bench within " + MEMBERS_TIMEOUT);
            }
            LockSupport.parkNanos(10_000_000);
        }
    }

    static void deleteRoot(String connect, String root) throws Exception {
        try (CuratorFramework zk = ZkClients.connect(connect, SESSION_TIMEOUT, Duration.ofSeconds(30))) {
            if (zk.checkExists().forPath(root) != null) {
                zk.delete().deletingChildrenIfNeeded().forPath(root);
            }
        }
    }

    private static void run(String endpoint, List<String> argv) {
        ManagedChannel channel = NettyChannelBuilder.forTarget(endpoint).usePlaintext().build();
        try {
            AgentGrpc.newBlockingStub(channel).withDeadlineAfter(30, TimeUnit.SECONDS)
                    .run(RunRequest.newBuilder().setGroup("bench").addAllArgv(argv).setCwd("/").build());
        } finally {
            channel.shutdownNow();
        }
    }

    /** Per run, the slowest host's freeze + capture + thaw, each host measured alone. */
    private static long[] hostFloor(List<AgentServer> agents, int runs) throws Exception {
        long[] floor = new long[runs];
        GroupCapturer capturer = new GroupCapturer();
        for (int r = 0; r < runs; r++) {
            long slowest = 0;
            for (AgentServer agent : agents) {
                ManagedGroup group = agent.groups().find("bench").orElseThrow();
                Freezer freezer = group.cgroup().freezer();
                long start = System.nanoTime();
                freezer.freeze(Instant.now().plusSeconds(10));
                Set<Integer> pids = group.cgroup().pids();
                capturer.capture(new CaptureScope("bench", agent.config().hostId(), "floor", 0, "v2", false,
                        new ArrayList<>(pids), java.util.Map.of()));
                freezer.thaw();
                slowest = Math.max(slowest, System.nanoTime() - start);
            }
            floor[r] = slowest;
        }
        return floor;
    }
}
