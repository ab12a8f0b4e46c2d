package io.lockstep.coordinator.testing;

import io.lockstep.coordinator.checkpoint.CheckpointOperation;
import io.lockstep.coordinator.checkpoint.CheckpointOptions;
import io.lockstep.coordinator.op.CheckpointResult;
import io.lockstep.coordinator.op.FailureReason;
import io.lockstep.coordinator.op.OperationFailedException;
import io.lockstep.coordinator.op.OperationListener;
import io.lockstep.coordinator.restore.RestoreOperation;
import io.lockstep.coordinator.restore.RestoreOptions;
import io.lockstep.coordinator.op.RestoreResult;

import java.time.Duration;
import java.util.Set;
import java.util.concurrent.Callable;
import java.util.concurrent.atomic.AtomicReference;

import static org.awaitility.Awaitility.await;

/**
 * "The group is usable again": a new operation by a fresh attempt commits. After a crash the
 * dead session's group lock and an agent's lingering or re-created registration last until
 * ZooKeeper expires that session, so refusals that name exactly these leftovers are retried, within
 * a bound sized from the session timeout; anything else fails the test.
 */
public final class GroupUsable {
    /** Several session timeouts: expiry, the agents' re-registration, and a loaded machine. */
    public static final Duration BOUND = LocalCluster.SESSION_TIMEOUT.multipliedBy(10);
    private static final Set<FailureReason> LEFTOVERS_OF_A_DEAD_SESSION = Set.of(FailureReason.GROUP_BUSY,
            FailureReason.AGENT_UNAVAILABLE, FailureReason.NO_PARTICIPANTS);

    private GroupUsable() {
    }

    public static CheckpointResult checkpointCommits(LocalCluster cluster, String group) {
        return retried("a checkpoint of " + group + " commits", () -> new CheckpointOperation(cluster.coordinator(),
                CheckpointOptions.defaults(), OperationListener.SILENT).run(group));
    }

    public static RestoreResult restoreCommits(LocalCluster cluster, String group) {
        return retried("a restore of " + group + " commits", () -> new RestoreOperation(cluster.coordinator(),
                RestoreOptions.defaults().withAllowRoot(true), OperationListener.SILENT).run(group));
    }

    private static <T> T retried(String what, Callable<T> operation) {
        AtomicReference<T> result = new AtomicReference<>();
        await(what).atMost(BOUND).pollInterval(Duration.ofMillis(500)).until(() -> {
            try {
                result.set(operation.call());
                return true;
            } catch (OperationFailedException e) {
                if (LEFTOVERS_OF_A_DEAD_SESSION.contains(e.reason())) {
                    return false;
                }
                throw e;
            }
        });
        return result.get();
    }
}
