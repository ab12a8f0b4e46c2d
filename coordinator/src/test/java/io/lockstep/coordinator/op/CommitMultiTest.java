package io.lockstep.coordinator.op;

import io.lockstep.zk.testing.ZkTestRoot;
import io.lockstep.proto.LockHolder;
import io.lockstep.proto.OpKind;
import io.lockstep.proto.OpRecord;
import io.lockstep.zk.Decision;
import io.lockstep.zk.Decisions;
import org.apache.curator.framework.api.transaction.CuratorOp;
import org.apache.zookeeper.KeeperException;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;

import java.util.List;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

/**
 * Rules of the commit (docs/DESIGN.md, "Checkpoint"): COMMIT is created in one multi with a check
 * that the group lock is still this coordinator's node and that the group's epoch is still the
 * op's, so a coordinator that lost its lock or was overtaken by a newer op commits nothing; and a
 * multi whose answer was lost after the server applied it is recognised by the COMMIT it left,
 * while an ABORT that stands is never taken for one.
 */
class CommitMultiTest {
    @RegisterExtension
    final ZkTestRoot root = new ZkTestRoot();
    private Decisions decisions;
    private GroupLock lock;
    private OpenedOperation op;

    @BeforeEach
    void openAnOperation() throws Exception {
        decisions = new Decisions(root.zk(), root.layout());
        lock = GroupLock.acquire(root.zk(), root.layout(), "g", LockHolder.newBuilder().setCoordinatorId("c1").build());
        op = new OperationOpener(root.zk(), root.layout())
                .open("g", OpRecord.newBuilder().setKind(OpKind.CHECKPOINT).setCoordinatorId("c1"), lock,
                        opId -> LockHolder.newBuilder().setCoordinatorId("c1").setOpId(opId).build());
    }

    @AfterEach
    void close() throws Exception {
        lock.close();
    }

    /** What OperationFrame sends: the guards, then the COMMIT itself. */
    private List<CuratorOp> commitOps() throws Exception {
        return List.of(lock.heldCheck(),
                root.zk().transactionOp().check().withVersion(Math.toIntExact(op.epoch())).forPath(root.layout().epoch("g")),
                root.zk().transactionOp().create().forPath(root.layout().decision("g", op.opId()),
                        Decision.commit().toBytes()));
    }

    @Test
    void aCommitWithItsGuardsInPlaceCreatesCommit() throws Exception {
        CommitMulti.run(root.zk(), decisions, op, commitOps());

        assertThat(decisions.read("g", op.opId())).hasValueSatisfying(d -> assertThat(d.isCommit()).isTrue());
    }

    @Test
    void aCoordinatorThatLostItsGroupLockCommitsNothing() throws Exception {
        List<CuratorOp> ops = commitOps();
        // What the expiry of this coordinator's session does to its ephemeral lock.
        root.zk().delete().forPath(root.layout().lock("g"));

        assertThatThrownBy(() -> CommitMulti.run(root.zk(), decisions, op, ops)).isInstanceOf(KeeperException.class);

        assertThat(decisions.read("g", op.opId())).isEmpty();
    }

    @Test
    void aCoordinatorOvertakenByANewerEpochCommitsNothing() throws Exception {
        List<CuratorOp> ops = commitOps();
        // A newer op of the group was opened: the epoch node's version moved on.
        root.zk().setData().forPath(root.layout().epoch("g"), new byte[0]);

        assertThatThrownBy(() -> CommitMulti.run(root.zk(), decisions, op, ops))
                .isInstanceOf(KeeperException.BadVersionException.class);

        assertThat(decisions.read("g", op.opId())).isEmpty();
    }

    @Test
    void aCommitWhoseAnswerWasLostIsRecognisedByTheCommitItLeft() throws Exception {
        CommitMulti.run(root.zk(), decisions, op, commitOps());

        // The client sends the same multi again, as it does when the first answer was lost: it now
        // fails on the existing decision, and the COMMIT it finds tells that the first one was applied.
        CommitMulti.run(root.zk(), decisions, op, commitOps());

        assertThat(decisions.read("g", op.opId())).hasValueSatisfying(d -> assertThat(d.isCommit()).isTrue());
    }

    @Test
    void anAbortThatStandsIsNeverTakenForACommit() throws Exception {
        // An agent's watchdog gave up on the op first.
        decisions.decide("g", op.opId(), Decision.abort("owner gone, seen by host h1"));

        assertThatThrownBy(() -> CommitMulti.run(root.zk(), decisions, op, commitOps()))
                .isInstanceOf(KeeperException.NodeExistsException.class);

        assertThat(decisions.read("g", op.opId())).hasValueSatisfying(d -> assertThat(d.isCommit()).isFalse());
    }
}
