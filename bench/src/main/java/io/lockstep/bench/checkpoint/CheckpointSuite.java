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
import io.lockstep.bench.harness.Samples;
import io.lockstep.coordinator.checkpoint.CheckpointOperation;
import io.lockstep.coordinator.checkpoint.CheckpointOptions;
import io.lockstep.coordinator.checkpoint.CheckpointResult;
import io.lockstep.coordinator.op.CoordinatorContext;
import io.lockstep.coordinator.op.OperationListener;
import io.lockstep.coordinator.op.PhaseBarrier;
import io.lockstep.coordinator.store.CheckpointStore;
import io.lockstep.proto.AgentGrpc;
import io.lockstep.proto.RunRequest;
import io.lockstep.zk.Phase;
import io.lockstep.zk.ZkClients;
import io.lockstep.zk.ZkLayout;
import io.grpc.ManagedChannel;
import io.grpc.netty.shaded.io.grpc.netty.NettyChannelBuilder;
import org.apache.curator.framework.CuratorFramework;
import org.apache.curator.framework.recipes.barriers.DistributedDoubleBarrier;
import org.apache.curator.test.InstanceSpec;
import org.apache.curator.test.TestingServer;
import org.apache.zookeeper.CreateMode;

import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Clock;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;
import java.util.Set;
import java.util.UUID;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.TimeUnit;

/**
 * Checkpoint latency and frozen window for 1, 4, 16 (and 64) agents, several per JVM, each with a
 * small group; next to (a) the per-host floor — freeze + capture of one host's group alone, the
 * slowest host counted — and (b) Curator's DistributedDoubleBarrier with the same number of
 * participants against Lockstep's own barrier (ephemeral entries + one watching waiter).
 */
public final class CheckpointSuite implements BenchSuite {
    @Override
    public String name() {
        return "checkpoint";
    }

    @Override
    public List<Result> run(BenchConfig config) throws Exception {
        List<Result> results = new ArrayList<>();
        List<Integer> sizes = config.quick() ? List.of(1, 4, 16) : List.of(1, 4, 16, 64);
        int runs = config.runs(7, 3);
        for (int agents : sizes) {
            results.addAll(measure(agents, runs));
        }
        return results;
    }

    private List<Result> measure(int agentCount, int runs) throws Exception {
        String id = UUID.randomUUID().toString().substring(0, 8);
        Path dir = Files.createTempDirectory("lockstep-bench-ckpt-");
        List<AgentServer> agents = new ArrayList<>();
        // 64 agents and 64 barrier members each hold a session: lift the default 60 per client address.
        TestingServer zkServer = new TestingServer(new InstanceSpec(null, -1, -1, -1, true, -1, -1, 1000), true);
        try {
            String root = "/lockstep-bench-" + id;
            for (int i = 0; i < agentCount; i++) {
                String host = "n" + i;
                agents.add(new AgentServer(new AgentConfig(host, "127.0.0.1:0", zkServer.getConnectString(), root,
                        "lockstep-bench-" + id + "-" + host, Optional.empty(), dir.resolve(host), Duration.ofSeconds(10),
                        true)).start());
                run(agents.get(i).endpoint(), List.of("sleep", "3600"));
            }
            CuratorFramework zk = ZkClients.connect(zkServer.getConnectString(), Duration.ofSeconds(10), Duration.ofSeconds(5));
            try {
                ZkLayout layout = new ZkLayout(root);
                CoordinatorContext ctx = CoordinatorContext.create(zk, layout, new CheckpointStore(dir.resolve("store")),
                        Clock.systemUTC());
                // Membership nodes appear asynchronously after Run: wait until all are there.
                while (ctx.directory().members("bench").size() < agentCount) {
                    Thread.onSpinWait();
                }
                long[] latency = new long[runs];
                long[] window = new long[runs];
                java.util.Map<String, List<Long>> phases = new java.util.LinkedHashMap<>();
                new CheckpointOperation(ctx, CheckpointOptions.defaults(), OperationListener.SILENT).run("bench"); // warm-up
                for (int r = 0; r < runs; r++) {
                    long start = System.nanoTime();
                    CheckpointResult result = new CheckpointOperation(ctx, CheckpointOptions.defaults(),
                            OperationListener.SILENT).run("bench");
                    latency[r] = System.nanoTime() - start;
                    window[r] = result.frozenWindowMicros() * 1000;
                    result.phaseMicros().forEach((phase, micros) ->
                            phases.computeIfAbsent(phase, k -> new ArrayList<>()).add(micros));
                }
                StringBuilder phaseNotes = new StringBuilder("; phase medians:");
                phases.forEach((phase, micros) -> phaseNotes.append(' ').append(phase).append(' ')
                        .append(micros.stream().sorted().toList().get(micros.size() / 2) / 1000).append("ms"));
                long[] floor = hostFloor(agents, runs);
                long[] ours = barrier(zk, layout, zkServer.getConnectString(), agentCount, runs, false);
                long[] curator = barrier(zk, layout, zkServer.getConnectString(), agentCount, runs, true);
                ctx.clients().close();
                Samples lat = new Samples(latency);
                Samples win = new Samples(window);
                Samples fl = new Samples(floor);
                String c = agentCount + " agents";
                String notes = runs + " runs, 1 process per agent, single ZooKeeper server";
                return List.of(
                        Result.of(name(), c, "checkpoint-latency-median", lat.medianMillis(), "ms", fl.medianMillis(),
                                notes + phaseNotes),
                        Result.of(name(), c, "frozen-window-median", win.medianMillis(), "ms", fl.medianMillis(),
                                notes + "; floor = slowest host's freeze+capture+thaw alone"),
                        Result.of(name(), c, "barrier-median", new Samples(ours).medianMillis(), "ms",
                                new Samples(curator).medianMillis(), "floor = Curator DistributedDoubleBarrier enter"));
            } finally {
                zk.close();
            }
        } finally {
            // Agents first, while ZooKeeper still answers their goodbyes.
            for (AgentServer agent : agents) {
                for (ManagedGroup group : agent.groups().all().values()) {
                    group.cgroup().killAll(Duration.ofSeconds(10));
                    group.cgroup().remove();
                }
                agent.close();
                agent.groups().layout().removeRootIfEmpty();
            }
            zkServer.close();
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

    /**
     * N participants, each with its own ZooKeeper session, pass a barrier; time from the first
     * participant's start until the waiter sees it full. Lockstep: ephemeral phase entries and a
     * PhaseBarrier; Curator: DistributedDoubleBarrier.enter().
     */
    private static long[] barrier(CuratorFramework zk, ZkLayout layout, String connect, int n, int runs, boolean curator)
            throws Exception {
        List<CuratorFramework> members = new ArrayList<>();
        ExecutorService pool = Executors.newFixedThreadPool(Math.min(n, 64));
        try {
            for (int i = 0; i < n; i++) {
                members.add(ZkClients.connect(connect, Duration.ofSeconds(10), Duration.ofSeconds(5)));
            }
            long[] times = new long[runs];
            for (int r = 0; r < runs; r++) {
                String op = "b" + r + (curator ? "c" : "l");
                List<String> hosts = new ArrayList<>();
                for (int i = 0; i < n; i++) {
                    hosts.add("n" + i);
                }
                String base = layout.op("barrier-bench", op);
                zk.create().creatingParentContainersIfNeeded().forPath(base);
                zk.create().forPath(layout.phase("barrier-bench", op, Phase.FROZEN));
                long start = System.nanoTime();
                List<CompletableFuture<Void>> entered = new ArrayList<>();
                for (int i = 0; i < n; i++) {
                    CuratorFramework member = members.get(i);
                    String host = hosts.get(i);
                    entered.add(CompletableFuture.runAsync(() -> {
                        try {
                            if (curator) {
                                new DistributedDoubleBarrier(member, base + "/curator", n).enter(30, TimeUnit.SECONDS);
                            } else {
                                member.create().withMode(CreateMode.EPHEMERAL)
                                        .forPath(layout.phaseEntry("barrier-bench", op, Phase.FROZEN, host));
                            }
                        } catch (Exception e) {
                            throw new IllegalStateException(e);
                        }
                    }, pool));
                }
                if (!curator) {
                    // The coordinator's side of Lockstep's barrier: one waiter watching the children.
                    new PhaseBarrier(zk, layout, Clock.systemUTC()).await("barrier-bench", op, Phase.FROZEN, hosts,
                            Instant.now().plusSeconds(30));
                }
                CompletableFuture.allOf(entered.toArray(CompletableFuture[]::new)).get(60, TimeUnit.SECONDS);
                times[r] = System.nanoTime() - start;
                zk.delete().deletingChildrenIfNeeded().forPath(base);
            }
            zk.delete().deletingChildrenIfNeeded().forPath(layout.group("barrier-bench"));
            return times;
        } finally {
            pool.shutdownNow();
            members.forEach(CuratorFramework::close);
        }
    }
}
