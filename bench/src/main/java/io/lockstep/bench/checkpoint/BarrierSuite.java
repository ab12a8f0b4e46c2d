package io.lockstep.bench.checkpoint;

import io.lockstep.bench.BenchConfig;
import io.lockstep.bench.BenchSuite;
import io.lockstep.bench.Result;
import io.lockstep.bench.harness.Samples;
import io.lockstep.coordinator.op.PhaseBarrier;
import io.lockstep.zk.Phase;
import io.lockstep.zk.ZkClients;
import io.lockstep.zk.ZkLayout;
import org.apache.curator.framework.CuratorFramework;
import org.apache.curator.framework.recipes.barriers.DistributedDoubleBarrier;
import org.apache.zookeeper.CreateMode;

import java.time.Clock;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.List;
import java.util.UUID;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.TimeUnit;

/**
 * A barrier of N members, each with its own ZooKeeper session, against a 3-server ensemble in its
 * own JVM, with the same meaning on both sides: <b>every member waits until all N have entered</b>.
 * Lockstep: each member creates its ephemeral phase entry and waits with {@link PhaseBarrier} (a
 * watch on the barrier's children) until all N entries exist; Curator: each member calls
 * {@code DistributedDoubleBarrier.enter()}. Time from the start until the last member returned.
 * (In a checkpoint only the coordinator waits on Lockstep's barrier; the agents do not.)
 */
public final class BarrierSuite implements BenchSuite {
    private static final List<Integer> FULL_SIZES = List.of(1, 4, 16, 64, 256);
    private static final List<Integer> QUICK_SIZES = List.of(1, 4, 16);
    private static final Duration SESSION_TIMEOUT = Duration.ofSeconds(30);
    private static final Duration WAIT = Duration.ofSeconds(60);

    @Override
    public String name() {
        return "barrier";
    }

    @Override
    public Duration budget() {
        return Duration.ofSeconds(120);
    }

    @Override
    public void run(BenchConfig config, List<Result> results) throws Exception {
        List<Integer> sizes = !config.agentCounts().isEmpty() ? config.agentCounts()
                : config.quick() ? QUICK_SIZES : FULL_SIZES;
        try (Ensemble ensemble = Ensemble.start()) {
            for (int members : sizes) {
                String caseName = members + " agents";
                if (!config.fits(Duration.ofSeconds(5))) {
                    results.add(Result.failure(name(), caseName, new IllegalStateException("skipped: the suite's budget is spent")));
                    continue;
                }
                try {
                    results.add(measure(ensemble.connectString(), members, config.runs(9, 5)));
                } catch (Exception e) {
                    e.printStackTrace();
                    results.add(Result.failure(name(), caseName, e));
                }
            }
        }
    }

    private Result measure(String connect, int n, int runs) throws Exception {
        ZkLayout layout = new ZkLayout("/lockstep-bench-barrier-" + UUID.randomUUID().toString().substring(0, 8));
        List<CuratorFramework> members = new ArrayList<>();
        // one thread per member: both barriers block each member until all N are in
        ExecutorService pool = Executors.newFixedThreadPool(n);
        try {
            for (int i = 0; i < n; i++) {
                members.add(ZkClients.connect(connect, SESSION_TIMEOUT, Duration.ofSeconds(30)));
            }
            barrier(layout, members, pool, 1, false); // warm-up of both
            barrier(layout, members, pool, 1, true);
            long[] lockstep = barrier(layout, members, pool, runs, false);
            long[] curator = barrier(layout, members, pool, runs, true);
            members.get(0).delete().deletingChildrenIfNeeded().forPath(layout.root());
            return Result.of(name(), n + " agents", "barrier-median", new Samples(lockstep).medianMillis(), "ms",
                    new Samples(curator).medianMillis(), runs + " runs after 1 warm-up; every member waits until all "
                            + n + " have entered; floor = Curator DistributedDoubleBarrier.enter() on every member");
        } finally {
            pool.shutdownNow();
            members.forEach(CuratorFramework::close);
        }
    }

    private static long[] barrier(ZkLayout layout, List<CuratorFramework> members, ExecutorService pool, int runs,
                                  boolean curator) throws Exception {
        int n = members.size();
        List<String> hosts = new ArrayList<>();
        for (int i = 0; i < n; i++) {
            hosts.add("n" + i);
        }
        long[] times = new long[runs];
        for (int r = 0; r < runs; r++) {
            String op = "b" + System.nanoTime() + (curator ? "c" : "l");
            String base = layout.op("barrier-bench", op);
            CuratorFramework admin = members.get(0);
            admin.create().creatingParentContainersIfNeeded().forPath(base);
            admin.create().forPath(layout.phase("barrier-bench", op, Phase.FROZEN));
            long start = System.nanoTime();
            List<CompletableFuture<Void>> passed = new ArrayList<>();
            for (int i = 0; i < n; i++) {
                CuratorFramework member = members.get(i);
                String host = hosts.get(i);
                passed.add(CompletableFuture.runAsync(() -> {
                    try {
                        if (curator) {
                            if (!new DistributedDoubleBarrier(member, base + "/curator", n).enter(WAIT.toSeconds(),
                                    TimeUnit.SECONDS)) {
                                throw new IllegalStateException("Curator barrier of " + n + " not full within " + WAIT);
                            }
                        } else {
                            member.create().withMode(CreateMode.EPHEMERAL)
                                    .forPath(layout.phaseEntry("barrier-bench", op, Phase.FROZEN, host));
                            List<String> missing = List.copyOf(new PhaseBarrier(member, layout, Clock.systemUTC())
                                    .await("barrier-bench", op, Phase.FROZEN, hosts, Instant.now().plus(WAIT)));
                            if (!missing.isEmpty()) {
                                throw new IllegalStateException("Lockstep barrier of " + n + " missing " + missing);
                            }
                        }
                    } catch (Exception e) {
                        throw new IllegalStateException(e);
                    }
                }, pool));
            }
            CompletableFuture.allOf(passed.toArray(CompletableFuture[]::new)).get(2 * WAIT.toSeconds(), TimeUnit.SECONDS);
            times[r] = System.nanoTime() - start;
            admin.delete().deletingChildrenIfNeeded().forPath(base);
        }
        return times;
    }
}
