package io.lockstep.bench.checkpoint;

import io.lockstep.agent.server.AgentServer;
import io.lockstep.bench.BenchConfig;
import io.lockstep.bench.BenchSuite;
import io.lockstep.bench.Result;
import io.lockstep.bench.harness.Samples;
import io.lockstep.coordinator.agents.AgentClients;
import io.lockstep.coordinator.checkpoint.CheckpointOperation;
import io.lockstep.coordinator.op.CheckpointResult;
import io.lockstep.coordinator.op.CoordinatorContext;
import io.lockstep.coordinator.op.OperationListener;
import io.lockstep.coordinator.store.CheckpointStore;
import io.lockstep.coordinator.store.FileCheckpointStore;
import io.lockstep.coordinator.store.S3CheckpointStore;
import io.lockstep.proto.CatalogManifest;
import io.lockstep.zk.ZkClients;
import io.lockstep.zk.ZkLayout;
import org.apache.curator.framework.CuratorFramework;
import software.amazon.awssdk.core.checksums.RequestChecksumCalculation;
import software.amazon.awssdk.core.checksums.ResponseChecksumValidation;
import software.amazon.awssdk.core.sync.RequestBody;
import software.amazon.awssdk.http.urlconnection.UrlConnectionHttpClient;
import software.amazon.awssdk.regions.Region;
import software.amazon.awssdk.services.s3.S3Client;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.time.Clock;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.Optional;
import java.util.UUID;
import java.util.concurrent.Callable;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.atomic.AtomicLong;
import java.util.stream.Stream;

/**
 * Checkpoint latency and frozen window with each store backend, {@code file:} (a local directory)
 * and {@code s3:} (S3Proxy, filesystem backend, in its own JVM), at 1, 4 and 16 agents (the same
 * agents for both backends). The same-run floor is the least any store must do for one
 * checkpoint: write the same manifest bytes once each, in parallel as the coordinator does — a
 * bare PUT per manifest for s3:, a bare write + fsync of a new file per manifest for file:. Next
 * to the whole checkpoint, the manifest writes themselves are timed inside the checkpoint (first
 * write's start to last write's end) against the same floor.
 *
 * <p>The figures measure the code as it is: re-run this suite (`bench/run.sh --suite store
 * --merge`) after a change that moves manifest writes out of the frozen window, and the window's
 * ratio shows it.
 */
public final class StoreSuite implements BenchSuite {
    private static final List<Integer> SIZES = List.of(1, 4, 16);

    @Override
    public String name() {
        return "store";
    }

    @Override
    public Duration budget() {
        return Duration.ofSeconds(300);
    }

    @Override
    public void run(BenchConfig config, List<Result> results) throws Exception {
        List<Integer> sizes = !config.agentCounts().isEmpty() ? config.agentCounts() : SIZES;
        Path dir = Files.createTempDirectory("lockstep-bench-store-");
        try (Ensemble ensemble = Ensemble.start(); S3ProxyProcess s3proxy = S3ProxyProcess.start(dir.resolve("s3proxy"));
             // As the store's client, without its extras: checksums only where S3 requires them (S3Proxy
             // refuses the SDK's default trailing checksums).
             S3Client bare = S3Client.builder().httpClientBuilder(UrlConnectionHttpClient.builder()).region(Region.US_EAST_1)
                     .requestChecksumCalculation(RequestChecksumCalculation.WHEN_REQUIRED)
                     .responseChecksumValidation(ResponseChecksumValidation.WHEN_REQUIRED)
                     .credentialsProvider(S3ProxyProcess.credentials()).endpointOverride(s3proxy.endpoint())
                     .forcePathStyle(true).build()) {
            for (int agents : sizes) {
                String caseName = agents + " agents";
                // A case costs mostly fixed set-up (agents, warm-up), so no estimate: only a passed soft deadline skips.
                if (!config.fits(Duration.ZERO)) {
                    results.add(Result.failure(name(), caseName, new IllegalStateException(
                            "skipped: the suite's budget has passed")));
                    continue;
                }
                long t = System.nanoTime();
                try {
                    results.addAll(measure(config, ensemble.connectString(), dir, s3proxy, bare, agents));
                } catch (Exception e) {
                    e.printStackTrace();
                    results.add(Result.failure(name(), caseName, e));
                }
                System.err.printf("  %s: %.1f s%n", caseName, (System.nanoTime() - t) / 1e9);
            }
        } finally {
            deleteTree(dir);
        }
    }

    /** The stores, the floor's files and S3Proxy's objects go with the run. */
    private static void deleteTree(Path dir) throws IOException {
        try (Stream<Path> files = Files.walk(dir)) {
            for (Path file : (Iterable<Path>) files.sorted(Comparator.reverseOrder())::iterator) {
                Files.deleteIfExists(file);
            }
        }
    }

    private List<Result> measure(BenchConfig config, String connect, Path dir, S3ProxyProcess s3proxy, S3Client bare,
                                 int agentCount) throws Exception {
        String id = UUID.randomUUID().toString().substring(0, 8);
        Path runDir = Files.createDirectories(dir.resolve(id));
        List<AgentServer> agents = new ArrayList<>();
        String root = "/lockstep-bench-store-" + id;
        Thread killGroups = new Thread(() -> CheckpointSuite.killGroups(agents), "bench-store-cleanup");
        Runtime.getRuntime().addShutdownHook(killGroups);
        int runs = config.runs(5, 3);
        try {
            CheckpointSuite.startAgents(agents, connect, root, id, runDir, agentCount);
            String bucket = "bench-" + id;
            bare.createBucket(create -> create.bucket(bucket));
            List<Backend> backends = List.of(
                    new Backend("file:", new FileCheckpointStore(runDir.resolve("store")),
                            manifests -> fsyncedWrites(runDir.resolve("floor"), manifests)),
                    new Backend("s3:", S3CheckpointStore.open(bucket, "deploy", s3proxy.endpoint(), S3ProxyProcess.credentials()),
                            manifests -> barePuts(bare, bucket, manifests)));
            List<Result> results = new ArrayList<>();
            for (Backend backend : backends) {
                results.addAll(measure(connect, new ZkLayout(root), backend, agentCount, runs));
            }
            return results;
        } finally {
            CheckpointSuite.killGroups(agents);
            for (AgentServer agent : agents) {
                agent.close();
            }
            CheckpointSuite.deleteRoot(connect, root);
            try {
                Runtime.getRuntime().removeShutdownHook(killGroups);
            } catch (IllegalStateException shuttingDown) {
                // the hook runs (or ran) anyway
            }
        }
    }

    /** A store, and the least work any store must do to write a checkpoint's manifests (nanoseconds). */
    private record Backend(String name, CheckpointStore store, Floor floor) {
    }

    private interface Floor {
        long writeNanos(List<byte[]> manifests) throws Exception;
    }

    /** Checkpoints of the agents' group (members under {@code layout}) into the backend's store. */
    private List<Result> measure(String connect, ZkLayout layout, Backend backend, int agentCount, int runs) throws Exception {
        TimedStore timed = new TimedStore(backend.store());
        CuratorFramework zk = ZkClients.connect(connect, CheckpointSuite.SESSION_TIMEOUT, Duration.ofSeconds(30));
        try (timed) {
            CoordinatorContext ctx = CoordinatorContext.create(zk, layout, timed, Clock.systemUTC(),
                    new AgentClients(Optional.empty(), List.of()));
            CheckpointSuite.awaitMembers(ctx, agentCount);
            Quiescence quiet = new Quiescence(zk, layout, "bench");
            quiet.await(new CheckpointOperation(ctx, CheckpointSuite.OPTIONS, OperationListener.SILENT).run("bench")
                    .checkpointId()); // warm-up
            long[] latency = new long[runs];
            long[] window = new long[runs];
            long[] writes = new long[runs];
            long[] floor = new long[runs];
            long bytes = 0;
            for (int r = 0; r < runs; r++) {
                timed.reset();
                long start = System.nanoTime();
                CheckpointResult result = new CheckpointOperation(ctx, CheckpointSuite.OPTIONS, OperationListener.SILENT)
                        .run("bench");
                latency[r] = System.nanoTime() - start;
                window[r] = result.frozenWindowMicros() * 1000;
                writes[r] = timed.spanNanos();
                quiet.await(result.checkpointId());
                List<byte[]> manifests = new ArrayList<>();
                for (CatalogManifest stored : result.catalogEntry().getManifestsList()) {
                    manifests.add(backend.store().readVerified("bench", result.checkpointId(), stored.getHostId(),
                            stored.getSha256(), stored.getSize()));
                }
                bytes = manifests.stream().mapToLong(m -> m.length).sum();
                floor[r] = backend.floor().writeNanos(manifests);
            }
            ctx.clients().close();
            Samples fl = new Samples(floor);
            String c = backend.name() + " " + agentCount + " agents";
            String notes = runs + " runs, " + agentCount + " manifests of " + bytes + " bytes in all; floor = "
                    + (backend.name().equals("s3:") ? "a bare PUT of each manifest's bytes to the same S3Proxy"
                    : "a bare write + fsync of each manifest's bytes to a new file") + ", in parallel";
            return List.of(
                    Result.of(name(), c, "checkpoint-latency-median", new Samples(latency).medianMillis(), "ms",
                            fl.medianMillis(), notes),
                    Result.of(name(), c, "frozen-window-median", new Samples(window).medianMillis(), "ms",
                            fl.medianMillis(), notes),
                    Result.of(name(), c, "manifest-writes-median", new Samples(writes).medianMillis(), "ms",
                            fl.medianMillis(), notes + "; value = first store write's start to the last one's end inside"
                                    + " the checkpoint"));
        } finally {
            zk.close();
        }
    }

    private static long fsyncedWrites(Path dir, List<byte[]> manifests) throws Exception {
        Files.createDirectories(dir);
        String run = UUID.randomUUID().toString();
        List<Callable<Void>> writes = new ArrayList<>();
        for (int i = 0; i < manifests.size(); i++) {
            Path file = dir.resolve(run + "-" + i);
            byte[] bytes = manifests.get(i);
            writes.add(() -> {
                try (FileChannel channel = FileChannel.open(file, StandardOpenOption.CREATE_NEW, StandardOpenOption.WRITE)) {
                    ByteBuffer buffer = ByteBuffer.wrap(bytes);
                    while (buffer.hasRemaining()) {
                        channel.write(buffer);
                    }
                    channel.force(true);
                }
                return null;
            });
        }
        return timedInParallel(writes);
    }

    private static long barePuts(S3Client s3, String bucket, List<byte[]> manifests) throws Exception {
        String run = UUID.randomUUID().toString();
        List<Callable<Void>> puts = new ArrayList<>();
        for (int i = 0; i < manifests.size(); i++) {
            String key = "floor/" + run + "/" + i;
            byte[] bytes = manifests.get(i);
            puts.add(() -> {
                s3.putObject(put -> put.bucket(bucket).key(key), RequestBody.fromBytes(bytes));
                return null;
            });
        }
        return timedInParallel(puts);
    }

    private static long timedInParallel(List<Callable<Void>> tasks) throws Exception {
        ExecutorService pool = Executors.newFixedThreadPool(tasks.size());
        try {
            long start = System.nanoTime();
            List<Future<Void>> running = new ArrayList<>();
            for (Callable<Void> task : tasks) {
                running.add(pool.submit(task));
            }
            for (Future<Void> done : running) {
                done.get();
            }
            return System.nanoTime() - start;
        } finally {
            pool.shutdownNow();
        }
    }

    /** The store, timing its manifest writes: from the first one's start to the last one's end. */
    private static final class TimedStore implements CheckpointStore {
        private final CheckpointStore store;
        private final AtomicLong firstStart = new AtomicLong(Long.MAX_VALUE);
        private final AtomicLong lastEnd = new AtomicLong(Long.MIN_VALUE);

        TimedStore(CheckpointStore store) {
            this.store = store;
        }

        void reset() {
            firstStart.set(Long.MAX_VALUE);
            lastEnd.set(Long.MIN_VALUE);
        }

        long spanNanos() {
            return lastEnd.get() - firstStart.get();
        }

        @Override
        public StoredManifest write(String group, String checkpointId, String hostId, byte[] framed) throws IOException {
            firstStart.accumulateAndGet(System.nanoTime(), Math::min);
            try {
                return store.write(group, checkpointId, hostId, framed);
            } finally {
                lastEnd.accumulateAndGet(System.nanoTime(), Math::max);
            }
        }

        @Override
        public String uri() {
            return store.uri();
        }

        @Override
        public String manifestUri(String group, String checkpointId, String hostId) {
            return store.manifestUri(group, checkpointId, hostId);
        }

        @Override
        public byte[] readVerified(String group, String checkpointId, String hostId, String expectedSha256, long expectedSize)
                throws IOException {
            return store.readVerified(group, checkpointId, hostId, expectedSha256, expectedSize);
        }

        @Override
        public boolean exists(String group, String checkpointId, String hostId, long expectedSize) throws IOException {
            return store.exists(group, checkpointId, hostId, expectedSize);
        }

        @Override
        public void delete(String group, String checkpointId) throws IOException {
            store.delete(group, checkpointId);
        }

        @Override
        public List<String> checkpointIds(String group) throws IOException {
            return store.checkpointIds(group);
        }

        @Override
        public Optional<String> storeId() throws IOException {
            return store.storeId();
        }

        @Override
        public String claimStoreId(String candidate) throws IOException {
            return store.claimStoreId(candidate);
        }

        @Override
        public void close() {
            store.close();
        }
    }
}
