package io.lockstep.coordinator.op;

import io.lockstep.zk.Decision;
import io.lockstep.zk.Decisions;
import io.lockstep.zk.ZkLayout;
import org.apache.curator.framework.CuratorFramework;
import org.apache.zookeeper.KeeperException;

import java.time.Duration;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;

/**
 * Cleans up after coordinators that died mid-operation: an op with no decision and no owner can
 * never commit any more, so it is decided ABORT (first writer wins; an agent may have done it).
 * Run while holding the group lock.
 */
public final class StaleOperations {
    /** How long the pipelined decision reads may take together (a synchronous read's retries end sooner). */
    private static final Duration READ_TIMEOUT = Duration.ofSeconds(30);
    private final CuratorFramework zk;
    private final ZkLayout layout;
    private final Decisions decisions;

    public StaleOperations(CuratorFramework zk, ZkLayout layout) {
        this.zk = zk;
        this.layout = layout;
        this.decisions = new Decisions(zk, layout);
    }

    /** @return the ops this call decided ABORT */
    public List<String> abortOrphans(String group) throws Exception {
        List<String> aborted = new ArrayList<>();
        List<String> ops;
        try {
            ops = zk.getChildren().forPath(layout.ops(group));
        } catch (KeeperException.NoNodeException none) {
            return aborted;
        }
        // Every op's decision is asked for at once (pipelined on the session: one round trip, not
        // one per op, however many op records the group keeps); only an undecided one's owner is read.
        Map<String, CompletableFuture<Boolean>> decided = new LinkedHashMap<>();
        for (String op : ops) {
            CompletableFuture<Boolean> exists = new CompletableFuture<>();
            zk.checkExists().inBackground((client, event) -> {
                int code = event.getResultCode();
                if (code == KeeperException.Code.OK.intValue() || code == KeeperException.Code.NONODE.intValue()) {
                    exists.complete(code == KeeperException.Code.OK.intValue());
                } else {
                    exists.completeExceptionally(KeeperException.create(KeeperException.Code.get(code), event.getPath()));
                }
            }).forPath(layout.decision(group, op));
            decided.put(op, exists);
        }
        for (Map.Entry<String, CompletableFuture<Boolean>> op : decided.entrySet()) {
            boolean isDecided;
            try {
                isDecided = op.getValue().get(READ_TIMEOUT.toMillis(), TimeUnit.MILLISECONDS);
            } catch (ExecutionException e) {
                throw e.getCause() instanceof Exception cause ? cause : e;
            }
            if (!isDecided && zk.checkExists().forPath(layout.owner(group, op.getKey())) == null) {
                Decision standing = decisions.decide(group, op.getKey(), Decision.abort("coordinator lost before a decision"));
                if (!standing.isCommit()) {
                    aborted.add(op.getKey());
                }
            }
        }
        return aborted;
    }
}
