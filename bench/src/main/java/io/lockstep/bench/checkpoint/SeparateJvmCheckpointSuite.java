package io.lockstep.bench.checkpoint;

import io.grpc.ManagedChannel;
import io.grpc.netty.shaded.io.grpc.netty.NettyChannelBuilder;
import io.lockstep.agent.capture.CaptureScope;
import io.lockstep.agent.capture.GroupCapturer;
import io.lockstep.agent.cgroup.CgroupLayout;
import io.lockstep.agent.cgroup.Freezer;
import io.lockstep.agent.cgroup.GroupCgroup;
import io.lockstep.bench.BenchConfig;
import io.lockstep.bench.BenchSuite;
import io.lockstep.bench.Result;
import io.lockstep.bench.count.RpcCounter;
import io.lockstep.bench.harness.Samples;
import io.lockstep.coordinator.agents.AgentClients;
import io.lockstep.coordinator.checkpoint.CheckpointOperation;
import io.lockstep.coordinator.op.CheckpointResult;
import io.lockstep.coordinator.op.CoordinatorContext;
import io.lockstep.coordinator.op.OperationListener;
import io.lockstep.coordinator.store.FileCheckpointStore;
import io.lockstep.proto.AgentGrpc;
import io.lockstep.proto.HostRecord;
import io.lockstep.proto.RunRequest;
import io.lockstep.zk.ZkClients;
import io.lockstep.zk.ZkLayout;
import org.apache.curator.framework.CuratorFramework;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Clock;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Set;
import java.util.UUID;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.locks.LockSupport;

/**
 * Checkpoints with the agents as deployed: each agent is its own JVM (`agent serve`, 2, 4 and 8
 * of them), next to {@link CheckpointSuite}'s agents in one JVM. Reports the first checkpoint's
 * window after the agents started (against the warm median), the warm window and latency (against
 * the slowest host's freeze + capture + thaw done alone from this JVM on the agents' own cgroups),
 * and the coordinator's calls per checkpoint.
 */
public final class SeparateJvmCheckpointSuite implements BenchSuite {
    private static final List<Integer> SIZES = List.of(2, 4, 8);
    private static final Duration START_TIMEOUT = Duration.ofMinutes(2);

    @Override
    public String name() {
        return "checkpoint-jvm";
    }

    @Override
    public Duration budget() {
        return Duration.ofSeconds(240);
    }

    @Override
    public void run(BenchConfig config, List<Result> results) throws Exception {
        List<Integer> sizes = !config.agentCounts().isEmpty() ? config.agentCounts() : SIZES;
        try (Ensemble ensemble = Ensemble.start()) {
            for (int agents : sizes) {
                String caseName = agents + " agent JVMs";
                if (!config.fits(Duration.ofSeconds(20L + 5L * agents).plus(CheckpointSuite.WARM_UP_TIME))) {
                    results.add(Result.failure(name(), caseName, new IllegalStateException("skipped: the suite's budget is spent")));
                    continue;
                }
                try {
                    results.addAll(measure(ensemble.connectString(), agents, config.runs(7, 3),
                            config.quick() ? 0 : CheckpointSuite.WARM_UP_CHECKPOINTS));
                } catch (Exception e) {
                    e.printStackTrace();
                    results.add(Result.failure(name(), caseName, e));
                }
            }
        }
    }

    private List<Result> measure(String connect, int agentCount, int runs, int warmUps) throws Exception {
        String id = UUID.randomUUID().toString().substring(0, 8);
        Path dir = Files.createTempDirectory("lockstep-bench-jvm-");
        String root = "/lockstep-bench-" + id;
        List<Process> agents = new ArrayList<>();
        List<String> cgroupRoots = new ArrayList<>();
        Thread stopAgents = new Thread(() -> stop(agents, cgroupRoots), "bench-checkpoint-jvm-cleanup");
        Runtime.getRuntime().addShutdownHook(stopAgents);
        RpcCounter rpcCounter = new RpcCounter();
        try (CuratorFramework zk = ZkClients.connect(connect, CheckpointSuite.SESSION_TIMEOUT, Duration.ofSeconds(30));
             CuratorFramework observer = ZkClients.connect(connect, CheckpointSuite.SESSION_TIMEOUT, Duration.ofSeconds(30))) {
            ZkLayout layout = new ZkLayout(root);
            CoordinatorContext ctx = CoordinatorContext.create(zk, layout, new FileCheckpointStore(dir.resolve("store")),
                    Clock.systemUTC(), new AgentClients(Optional.empty(), List.of(rpcCounter)));
            for (int i = 0; i < agentCount; i++) {
                String host = "j" + i;
                String cgroupRoot = "lockstep-bench-" + id + "-" + host;
                cgroupRoots.add(cgroupRoot);
                agents.add(startAgent(connect, root, host, cgroupRoot, dir));
            }
            for (int i = 0; i < agentCount; i++) {
                runSleeper(awaitEndpoint(ctx, "j" + i, agents.get(i), dir));
            }
            CheckpointSuite.awaitMembers(ctx, agentCount);
            Quiescence quiet = new Quiescence(observer, layout, "bench");
            // The first checkpoint after the agents started, against the warm median of the same run.
            CheckpointResult first = new CheckpointOperation(ctx, CheckpointSuite.OPTIONS, OperationListener.SILENT).run("bench");
            quiet.await(first.checkpointId());
            int warmedUp = CheckpointSuite.warmUp(ctx, quiet, warmUps);
            long[] latency = new long[runs];
            long[] window = new long[runs];
            Map<String, Long> rpcBefore = rpcCounter.counts();
            for (int r = 0; r < runs; r++) {
                long start = System.nanoTime();
                CheckpointResult result = new CheckpointOperation(ctx, CheckpointSuite.OPTIONS, OperationListener.SILENT)
                        .run("bench");
                latency[r] = System.nanoTime() - start;
                window[r] = result.frozenWindowMicros() * 1000;
                quiet.await(result.checkpointId());
            }
            Map<String, Long> rpcs = RpcCounter.minus(rpcCounter.counts(), rpcBefore);
            long rpcTotal = rpcs.values().stream().mapToLong(Long::longValue).sum();
            long[] floor = hostFloor(cgroupRoots, runs);
            ctx.clients().close();
            Samples lat = new Samples(latency);
            Samples win = new Samples(window);
            Samples fl = new Samples(floor);
            String c = agentCount + " agent JVMs";
            String notes = runs + " runs after " + warmedUp + " unmeasured warm-up checkpoints, 1 process per agent, each agent its own JVM (`agent serve`), "
                    + EnsembleMain.SERVERS + "-server ZooKeeper ensemble";
            return List.of(
                    Result.of(name(), c, "checkpoint-latency-median", lat.medianMillis(), "ms", fl.medianMillis(),
                            notes + "; coordinator in the bench JVM (no CLI start)"),
                    Result.of(name(), c, "frozen-window-median", win.medianMillis(), "ms", fl.medianMillis(),
                            notes + "; floor = slowest host's freeze+capture+thaw alone"),
                    Result.of(name(), c, "first-frozen-window", first.frozenWindowMicros() / 1000.0, "ms",
                            win.medianMillis(), "the first checkpoint after the agents started; floor = the warm "
                            + "median window of the same run"),
                    Result.of(name(), c, "rpcs-per-checkpoint", (double) rpcTotal / runs, "calls", 0,
                            "coordinator to agents, in all " + runs + " checkpoints: " + rpcs));
        } finally {
            stop(agents, cgroupRoots);
            CheckpointSuite.deleteRoot(connect, root);
            try {
                Runtime.getRuntime().removeShutdownHook(stopAgents);
            } catch (IllegalStateException shuttingDown) {
                // the hook runs (or ran) anyway
            }
        }
    }

    private static Process startAgent(String connect, String root, String host, String cgroupRoot, Path dir)
            throws IOException {
        Path state = dir.resolve(host);
        Files.createDirectories(state);
        String java = Path.of(System.getProperty("java.home"), "bin", "java").toString();
        return new ProcessBuilder(java, "-Xmx128m", "-cp", System.getProperty("java.class.path"),
                "io.lockstep.agent.cli.AgentMain", "serve", "--host-id", host, "--listen", "127.0.0.1:0", "--zk", connect,
                "--zk-root", root, "--cgroup-root", cgroupRoot, "--state-dir", state.toString(), "--allow-root",
                "--insecure-plaintext", "--socket", state.resolve("agent.sock").toString(),
                "--session-timeout", CheckpointSuite.SESSION_TIMEOUT.toMillis() + "ms")
                .redirectErrorStream(true).redirectOutput(dir.resolve(host + ".log").toFile()).start();
    }

    /** The agent's gRPC endpoint, once it registered in ZooKeeper. */
    private static String awaitEndpoint(CoordinatorContext ctx, String host, Process agent, Path dir) throws Exception {
        Instant deadline = Instant.now().plus(START_TIMEOUT);
        while (true) {
            Optional<HostRecord> record = ctx.directory().host(host);
            if (record.isPresent()) {
                return record.get().getEndpoint();
            }
            if (!agent.isAlive() || Instant.now().isAfter(deadline)) {
                throw new IllegalStateException("agent JVM " + host + " did not register within " + START_TIMEOUT
                        + " (alive: " + agent.isAlive() + "); its log: " + dir.resolve(host + ".log"));
            }
            LockSupport.parkNanos(20_000_000);
        }
    }

    private static void runSleeper(String endpoint) {
        ManagedChannel channel = NettyChannelBuilder.forTarget(endpoint).usePlaintext().build();
        try {
            AgentGrpc.newBlockingStub(channel).withDeadlineAfter(30, TimeUnit.SECONDS)
                    .run(RunRequest.newBuilder().setGroup("bench").addArgv("sleep").addArgv("3600").setCwd("/").build());
        } finally {
            channel.shutdownNow();
        }
    }

    /** Per run, the slowest host's freeze + capture + thaw, each host's group measured alone from this JVM. */
    private static long[] hostFloor(List<String> cgroupRoots, int runs) throws Exception {
        long[] floor = new long[runs];
        GroupCapturer capturer = new GroupCapturer();
        for (int r = 0; r < runs; r++) {
            long slowest = 0;
            for (String cgroupRoot : cgroupRoots) {
                GroupCgroup group = CgroupLayout.detect(cgroupRoot).forGroup("bench");
                Freezer freezer = group.freezer();
                long start = System.nanoTime();
                freezer.freeze(Instant.now().plusSeconds(10));
                Set<Integer> pids = group.pids();
                capturer.capture(new CaptureScope("bench", cgroupRoot, "floor", 0, "v2", false, new ArrayList<>(pids),
                        Map.of()));
                freezer.thaw();
                slowest = Math.max(slowest, System.nanoTime() - start);
            }
            floor[r] = slowest;
        }
        return floor;
    }

    /** Stops the agent JVMs, then kills what they ran and removes their cgroups (SIGKILL ends frozen tasks too). */
    private static void stop(List<Process> agents, List<String> cgroupRoots) {
        for (Process agent : agents) {
            agent.destroyForcibly();
            try {
                agent.waitFor(30, TimeUnit.SECONDS);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
        }
        agents.clear();
        for (String cgroupRoot : cgroupRoots) {
            try {
                CgroupLayout layout = CgroupLayout.detect(cgroupRoot);
                for (String group : layout.existingGroups()) {
                    GroupCgroup cgroup = layout.forGroup(group);
                    cgroup.killAll(Duration.ofSeconds(10));
                    cgroup.remove();
                }
                layout.removeRootIfEmpty();
            } catch (Exception e) {
                System.err.println("bench clean-up of cgroup root " + cgroupRoot + ": " + e);
            }
        }
        cgroupRoots.clear();
    }
}
