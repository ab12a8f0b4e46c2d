package io.lockstep.coordinator.testing;

import io.lockstep.coordinator.checkpoint.CheckpointOperation;
import io.lockstep.coordinator.checkpoint.CheckpointOptions;
import io.lockstep.coordinator.op.CoordinatorContext;
import io.lockstep.coordinator.op.OperationListener;
import io.lockstep.coordinator.restore.RestoreOperation;
import io.lockstep.coordinator.restore.RestoreOptions;
import io.lockstep.coordinator.store.CheckpointStore;
import io.lockstep.zk.ZkClients;
import io.lockstep.zk.ZkLayout;
import org.apache.curator.framework.CuratorFramework;

import java.nio.file.Path;
import java.time.Clock;
import java.time.Duration;
import java.util.concurrent.CountDownLatch;

/**
 * A coordinator in its own JVM that runs one checkpoint and stops dead after a given phase: it
 * prints "PAUSED <phase>" and waits to be SIGKILLed, as a crashed coordinator would leave things.
 *
 * <p>Arguments: ZK_CONNECT ZK_ROOT STORE_DIR GROUP PHASE [restore]: a checkpoint by default
 * (phases freeze, capture, commit), a restore of the latest checkpoint with "restore" (phases
 * validate, stage, prepare, commit).
 */
public final class PausingCoordinator {
    public static void main(String[] args) throws Exception {
        String phaseToStopAfter = args[4];
        CuratorFramework zk = ZkClients.connect(args[0], LocalCluster.SESSION_TIMEOUT, Duration.ofSeconds(5));
        CoordinatorContext ctx = CoordinatorContext.create(zk, new ZkLayout(args[1]), new CheckpointStore(Path.of(args[2])),
                Clock.systemUTC());
        OperationListener stopDead = new OperationListener() {
            @Override
            public void phaseEnded(String phase, long micros) {
                if (phase.equals(phaseToStopAfter)) {
                    System.out.println("PAUSED " + phase);
                    System.out.flush();
                    try {
                        new CountDownLatch(1).await();
                    } catch (InterruptedException e) {
                        Thread.currentThread().interrupt();
                    }
                }
            }
        };
        if (args.length > 5 && args[5].equals("restore")) {
            new RestoreOperation(ctx, RestoreOptions.defaults().withAllowRoot(true), stopDead).run(args[3]);
        } else {
            new CheckpointOperation(ctx, CheckpointOptions.defaults(), stopDead).run(args[3]);
        }
        System.out.println("FINISHED");
    }
}
