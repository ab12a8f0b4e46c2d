package io.lockstep.coordinator.testing;

import io.lockstep.coordinator.checkpoint.CheckpointOperation;
import io.lockstep.coordinator.checkpoint.CheckpointOptions;
import io.lockstep.coordinator.op.CoordinatorContext;
import io.lockstep.coordinator.op.OperationListener;
import io.lockstep.coordinator.restore.RestoreOperation;
import io.lockstep.coordinator.restore.RestoreOptions;
import io.lockstep.coordinator.store.FileCheckpointStore;
import io.lockstep.zk.ZkClients;
import io.lockstep.zk.ZkLayout;
import org.apache.curator.framework.CuratorFramework;

import java.nio.file.Path;
import java.time.Clock;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CountDownLatch;

/**
 * A coordinator in its own JVM that runs one operation and stops dead at a given phase boundary:
 * it prints "PAUSED <boundary>" and waits to be SIGKILLed, as a crashed coordinator would leave things.
 *
 * <p>Arguments: ZK_CONNECT ZK_ROOT STORE_DIR GROUP BOUNDARY [restore]: a checkpoint by default
 * (phases freeze, capture, thaw, store, commit), a restore of the latest checkpoint with "restore"
 * (phases validate, stage, prepare, commit, release). BOUNDARY is {@code start:<phase>},
 * {@code end:<phase>}, or a bare phase name for its end. Its ZooKeeper session times out after
 * {@code -Dlockstep.test.sessionTimeoutMs} (default {@link LocalCluster#SESSION_TIMEOUT}), as its cluster's.
 * A restore's RPCs (and so its hand-over timeout) time out after {@code -Dlockstep.test.restoreRpcTimeoutMs}
 * (default: {@link RestoreOptions#defaults()}), as the restores its test runs itself.
 */
public final class PausingCoordinator {
    /**
     * The session of a coordinator started with {@link #command}: shorter than the cluster's, because the
     * test SIGKILLs it and then waits this session out (its group lock and op owner node go only when
     * ZooKeeper expires it). Started otherwise, it takes {@link LocalCluster#SESSION_TIMEOUT}.
     */
    public static final Duration KILLED_SESSION_TIMEOUT = Duration.ofSeconds(2);
    private static final String SESSION_PROPERTY = "lockstep.test.sessionTimeoutMs";
    public static final String RESTORE_RPC_TIMEOUT_PROPERTY = "lockstep.test.restoreRpcTimeoutMs";

    /** The command line of a coordinator JVM on {@code cluster} that stops at {@code boundary} of a checkpoint or restore. */
    public static List<String> command(LocalCluster cluster, String group, String boundary, boolean restore)
            throws Exception {
        List<String> command = new ArrayList<>(List.of(LocalCluster.javaBinary(), "-Xmx128m", "-XX:TieredStopAtLevel=1",
                "-D" + SESSION_PROPERTY + "=" + KILLED_SESSION_TIMEOUT.toMillis(), "-cp",
                System.getProperty("java.class.path"), PausingCoordinator.class.getName(), cluster.zkConnect(),
                cluster.zkRoot(), cluster.fileStore().root().toString(), group, boundary));
        if (restore) {
            command.add("restore");
        }
        return command;
    }

    public static void main(String[] args) throws Exception {
        String boundary = args[4].contains(":") ? args[4] : "end:" + args[4];
        Duration session = Duration.ofMillis(Long.getLong(SESSION_PROPERTY, LocalCluster.SESSION_TIMEOUT.toMillis()));
        CuratorFramework zk = ZkClients.connect(args[0], session, Duration.ofSeconds(5));
        CoordinatorContext ctx = CoordinatorContext.create(zk, new ZkLayout(args[1]), new FileCheckpointStore(Path.of(args[2])),
                Clock.systemUTC());
        OperationListener stopDead = new PhaseTrigger(boundary, () -> {
            System.out.println("PAUSED " + args[4]);
            System.out.flush();
            new CountDownLatch(1).await();
        });
        if (args.length > 5 && args[5].equals("restore")) {
            RestoreOptions defaults = RestoreOptions.defaults();
            Duration rpcTimeout = Duration.ofMillis(Long.getLong(RESTORE_RPC_TIMEOUT_PROPERTY, defaults.rpcTimeout().toMillis()));
            RestoreOptions options = new RestoreOptions(defaults.checkpoint(), defaults.hostMap(), defaults.pathMaps(),
                    defaults.force(), true, defaults.skipUnrestartable(), defaults.timeout(), rpcTimeout,
                    defaults.replaceGrace(), defaults.noRollBack());
            new RestoreOperation(ctx, options, stopDead).run(args[3]);
        } else {
            new CheckpointOperation(ctx, CheckpointOptions.defaults(), stopDead).run(args[3]);
        }
        System.out.println("FINISHED");
    }
}
