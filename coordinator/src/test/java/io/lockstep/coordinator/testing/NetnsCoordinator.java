package io.lockstep.coordinator.testing;

import io.lockstep.coordinator.checkpoint.CheckpointOperation;
import io.lockstep.coordinator.checkpoint.CheckpointOptions;
import io.lockstep.coordinator.op.CheckpointResult;
import io.lockstep.coordinator.op.CoordinatorContext;
import io.lockstep.coordinator.op.OperationFailedException;
import io.lockstep.coordinator.op.OperationListener;
import io.lockstep.coordinator.restore.RestoreOperation;
import io.lockstep.coordinator.restore.RestoreOptions;
import io.lockstep.coordinator.op.RestoreResult;
import io.lockstep.coordinator.store.FileCheckpointStore;
import io.lockstep.proto.AgentGrpc;
import io.lockstep.proto.CatalogEntry;
import io.lockstep.proto.CatalogManifest;
import io.lockstep.proto.FreezeRequest;
import io.lockstep.proto.HostRecord;
import io.lockstep.proto.OpContext;
import io.lockstep.proto.RunRequest;
import io.lockstep.zk.Decisions;
import io.lockstep.zk.Phase;
import io.lockstep.zk.ZkClients;
import io.lockstep.zk.ZkJson;
import io.lockstep.zk.ZkLayout;
import io.grpc.ManagedChannel;
import io.grpc.netty.shaded.io.grpc.netty.NettyChannelBuilder;
import org.apache.curator.framework.CuratorFramework;
import org.apache.zookeeper.KeeperException;

import java.io.BufferedReader;
import java.io.InputStreamReader;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.time.Clock;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.Executors;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.TimeUnit;

/**
 * The coordinator of a network lab, as its own JVM inside the coordinator's namespace: the test
 * (in the root namespace, which has no route to the lab) drives it over stdin/stdout. Arguments:
 * ZK_CONNECT ZK_ROOT STORE_DIR.
 *
 * <p>A request is one line of tab-separated fields, {@code SEQ COMMAND ARGS…}; the reply is
 * {@code SEQ OK [payload]} or {@code SEQ ERR message}. Operations run in the background and end
 * with {@code EVENT DONE SEQ COMMIT id epoch hosts} or {@code EVENT DONE SEQ FAILED reason host message};
 * an operation asked to pause at a point prints {@code EVENT PAUSED point} there and waits for
 * {@code resume}. Points: {@code started:PHASE} (before the phase's calls go out) and
 * {@code done:PHASE:HOST} (the host's reply to the phase arrived, the phase not yet ended).
 *
 * <p>Deadlines are short so that a cut host costs seconds, not minutes (an operation that loses a
 * host runs to its deadline, then spends an abort call on it): a checkpoint has 8 s (freeze
 * barrier 4 s), a restore 10 s, abort/thaw calls 3 s; one that commits took 1-4 s here at a load
 * average of 15. The maximum frozen time is 20 s: a cut or stopped host's guard must not
 * thaw before its session expired (3 s) and the test looked.
 */
public final class NetnsCoordinator {
    static final CheckpointOptions CHECKPOINT = new CheckpointOptions(Duration.ofSeconds(8), Duration.ofSeconds(4),
            Duration.ofSeconds(20), Duration.ofSeconds(3));
    static final RestoreOptions RESTORE = new RestoreOptions("latest", Map.of(), List.of(), false, true, false,
            Duration.ofSeconds(10), Duration.ofSeconds(3), java.util.Optional.empty());

    private final PrintStream out;
    private final CoordinatorContext ctx;
    private final ExecutorService operations = Executors.newSingleThreadExecutor();
    private volatile CountDownLatch paused = new CountDownLatch(0);

    private NetnsCoordinator(PrintStream out, CoordinatorContext ctx) {
        this.out = out;
        this.ctx = ctx;
    }

    public static void main(String[] args) throws Exception {
        // Replies own stdout; logs go to stderr.
        PrintStream out = new PrintStream(new java.io.FileOutputStream(java.io.FileDescriptor.out), true,
                StandardCharsets.UTF_8);
        System.setOut(System.err);
        CuratorFramework zk = ZkClients.connect(args[0], LocalCluster.SESSION_TIMEOUT, Duration.ofSeconds(30));
        CoordinatorContext ctx = CoordinatorContext.create(zk, new ZkLayout(args[1]), new FileCheckpointStore(Path.of(args[2])),
                Clock.systemUTC());
        NetnsCoordinator driver = new NetnsCoordinator(out, ctx);
        out.println("READY");
        BufferedReader in = new BufferedReader(new InputStreamReader(System.in, StandardCharsets.UTF_8));
        String line;
        while ((line = in.readLine()) != null) {
            String[] fields = line.split("\t");
            try {
                out.println(fields[0] + " OK " + driver.handle(fields[0], fields[1], Arrays.copyOfRange(fields, 2, fields.length)));
            } catch (Exception e) {
                out.println(fields[0] + " ERR " + String.valueOf(e.getMessage()).replace('\n', ' '));
            }
        }
        // The test closed our stdin: it is done with us.
        Runtime.getRuntime().halt(0);
    }

    private String handle(String seq, String command, String[] a) throws Exception {
        ZkLayout layout = ctx.layout();
        CuratorFramework zk = ctx.zk();
        return switch (command) {
            case "run" -> Integer.toString(run(a[0], a[1], a[2], List.of(a).subList(3, a.length)));
            case "checkpoint" -> operate(seq, a[1], () -> {
                CheckpointResult result = new CheckpointOperation(ctx, CHECKPOINT, pauseAt(a[1])).run(a[0]);
                return result.checkpointId() + " " + result.epoch() + " " + String.join(",", result.hosts());
            });
            case "restore" -> operate(seq, a[1], () -> {
                RestoreResult result = new RestoreOperation(ctx, RESTORE, pauseAt(a[1])).run(a[0]);
                return result.opId() + " " + result.epoch() + " " + String.join(",", result.processesByHost().keySet());
            });
            case "resume" -> {
                paused.countDown();
                yield "resumed";
            }
            case "decision" -> new Decisions(zk, layout).read(a[0], a[1]).map(Object::toString).orElse("NONE");
            case "ops" -> String.join(" ", children(layout.ops(a[0])));
            case "entries" -> {
                List<String> entries = new ArrayList<>();
                for (Phase phase : Phase.values()) {
                    for (String host : children(layout.phase(a[0], a[1], phase))) {
                        entries.add(phase.node() + "/" + host);
                    }
                }
                yield String.join(" ", entries);
            }
            case "checkpoints" -> verifiedCheckpoints(a[0]);
            // Holds the first capture of group a[0]'s next checkpoint (HeldCapture); answers the FIFO that lets it go.
            case "hold-capture" -> HeldCapture.declare(zk, layout, Path.of(a[1]), a[0]).toString();
            case "registered" -> zk.checkExists().forPath(layout.host(a[0])) != null ? "yes" : "no";
            case "member" -> zk.checkExists().forPath(layout.member(a[0], a[1])) != null ? "yes" : "no";
            case "freeze" -> {
                // A request as a coordinator of op a[2] (epoch a[3]) would send it, e.g. a late one.
                OpContext op = OpContext.newBuilder().setGroup(a[1]).setOpId(a[2]).setEpoch(Long.parseLong(a[3])).build();
                HostRecord host = ctx.directory().host(a[0]).orElseThrow(() -> new IllegalStateException("no host " + a[0]));
                ctx.clients().forHost(host).freeze(FreezeRequest.newBuilder().setCtx(op)
                        .setDeadlineUnixMs(System.currentTimeMillis() + 5000).setMaxFrozenMs(20000).build(),
                        Duration.ofSeconds(10));
                yield "frozen";
            }
            default -> throw new IllegalArgumentException("unknown command " + command);
        };
    }

    @FunctionalInterface
    private interface Operation {
        String run() throws Exception;
    }

    private String operate(String seq, String pausePoint, Operation operation) {
        paused = new CountDownLatch(pausePoint.equals("none") ? 0 : 1);
        operations.execute(() -> {
            String outcome;
            try {
                outcome = "COMMIT " + operation.run();
            } catch (OperationFailedException e) {
                outcome = "FAILED " + e.reason() + " " + e.hostId().orElse("-") + " " + e.getMessage().replace('\n', ' ');
            } catch (Exception e) {
                outcome = "FAILED EXCEPTION - " + e;
            }
            out.println("EVENT DONE " + seq + " " + outcome);
        });
        return "started";
    }

    private OperationListener pauseAt(String point) {
        return new OperationListener() {
            @Override
            public void phaseStarted(String phase, int total) {
                pauseIf("started:" + phase);
            }

            @Override
            public void hostDone(String phase, String hostId, int done, int total, String detail) {
                pauseIf("done:" + phase + ":" + hostId);
            }

            private void pauseIf(String here) {
                if (here.equals(point)) {
                    out.println("EVENT PAUSED " + here);
                    try {
                        if (!paused.await(120, TimeUnit.SECONDS)) {
                            out.println("EVENT NOT-RESUMED " + here);
                        }
                    } catch (InterruptedException e) {
                        Thread.currentThread().interrupt();
                    }
                }
            }
        };
    }

    private int run(String hostId, String group, String cwd, List<String> argv) throws Exception {
        String endpoint = ctx.directory().host(hostId).orElseThrow(() -> new IllegalStateException("no agent " + hostId))
                .getEndpoint();
        ManagedChannel channel = NettyChannelBuilder.forTarget(endpoint).usePlaintext().build();
        try {
            return AgentGrpc.newBlockingStub(channel).withDeadlineAfter(30, TimeUnit.SECONDS)
                    .run(RunRequest.newBuilder().setGroup(group).addAllArgv(argv).setCwd(cwd).putAllEnv(System.getenv())
                            .build())
                    .getPid();
        } finally {
            channel.shutdownNow();
        }
    }

    /** The group's catalog, each entry checked as Invariants does: COMMIT decision, manifests matching their sha256. */
    private String verifiedCheckpoints(String group) throws Exception {
        List<String> ids = children(ctx.layout().checkpoints(group));
        for (String id : ids) {
            String path = ctx.layout().checkpoint(group, id);
            CatalogEntry entry = ZkJson.parse(ctx.zk().getData().forPath(path), CatalogEntry.getDefaultInstance(), path);
            if (!new Decisions(ctx.zk(), ctx.layout()).read(group, entry.getOpId()).map(d -> d.isCommit()).orElse(false)) {
                throw new IllegalStateException("catalog entry " + id + " without COMMIT decision");
            }
            for (CatalogManifest manifest : entry.getManifestsList()) {
                ctx.store().readVerified(group, id, manifest.getHostId(), manifest.getSha256(), manifest.getSize());
            }
        }
        return String.join(" ", ids);
    }

    private List<String> children(String path) throws Exception {
        try {
            List<String> names = new ArrayList<>(ctx.zk().getChildren().forPath(path));
            names.sort(String::compareTo);
            return names;
        } catch (KeeperException.NoNodeException none) {
            return List.of();
        }
    }
}
