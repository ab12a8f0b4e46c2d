package io.lockstep.coordinator.op;

import io.lockstep.zk.Decision;
import io.lockstep.zk.Decisions;
import org.apache.curator.framework.CuratorFramework;
import org.apache.curator.framework.api.transaction.CuratorOp;
import org.apache.zookeeper.KeeperException;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.util.List;

/**
 * Runs the multi that creates an operation's COMMIT. Its answer can be lost after the server
 * applied it (connection loss, session expiry while it was in flight): then the decision node,
 * which only this coordinator writes as COMMIT, tells that it was applied, and the operation is
 * committed, not failed.
 */
public final class CommitMulti {
    private static final Logger LOG = LoggerFactory.getLogger(CommitMulti.class);

    private CommitMulti() {
    }

    /**
     * @throws KeeperException the multi's failure, when it was not applied
     */
    public static void run(CuratorFramework zk, Decisions decisions, OpenedOperation op, List<CuratorOp> ops)
            throws Exception {
        try {
            zk.transaction().forOperations(ops);
        } catch (KeeperException e) {
            if (!decisions.read(op.group(), op.opId()).map(Decision::isCommit).orElse(false)) {
                throw e;
            }
            LOG.warn("op {}: the commit multi answered {}, but the decision is COMMIT: it was applied", op.opId(),
                    e.code());
        }
    }
}
