package io.lockstep.coordinator.op;

import io.lockstep.zk.testing.ZkTestRoot;
import io.lockstep.proto.LockHolder;
import io.lockstep.proto.OpKind;
import io.lockstep.proto.OpRecord;
import io.lockstep.zk.Phase;
import io.lockstep.zk.ZkJson;
import org.apache.zookeeper.data.Stat;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;

import java.nio.charset.StandardCharsets;
import java.util.List;
import java.time.Instant;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

/**
 * Rules of step "Open" (docs/DESIGN.md, "ZooKeeper layout" and "Checkpoint"): the op's epoch is the
 * next version of groups/&lt;g&gt;/epoch, taken in the same transaction that writes the op record,
 * its ephemeral owner node and its barrier parents, so two openers never get one epoch; a group
 * whose lock another operation holds is refused, naming that operation, its coordinator, host and
 * pid.
 */
class OperationOpenerTest {
    @RegisterExtension
    final ZkTestRoot root = new ZkTestRoot();
    private OperationOpener opener;
    private GroupLock lock;

    @BeforeEach
    void takeTheGroup() throws Exception {
        opener = new OperationOpener(root.zk(), root.layout(), OpIds.withRandomPart("0c0ffe"));
        lock = GroupLock.acquire(root.zk(), root.layout(), "g", holder());
    }

    @AfterEach
    void close() throws Exception {
        lock.close();
    }

    private static LockHolder holder() {
        return LockHolder.newBuilder().setCoordinatorId("c1").setOpId("ckpt-000001").setHostname("ops-1").setPid(4242)
                .setSinceUnixMs(Instant.parse("2026-01-02T03:04:05Z").toEpochMilli()).build();
    }

    private static LockHolder holderOf(String opId) {
        return holder().toBuilder().setOpId(opId).build();
    }

    private static OpRecord.Builder checkpoint() {
        return OpRecord.newBuilder().setKind(OpKind.CHECKPOINT).setCoordinatorId("c1").addParticipants("h1")
                .setOpenedUnixMs(Instant.parse("2026-01-02T03:04:05Z").toEpochMilli());
    }

    @Test
    void openTakesTheNextEpochAndWritesRecordOwnerAndEveryBarrierParent() throws Exception {
        OpenedOperation op = opener.open("g", checkpoint(), lock, OperationOpenerTest::holderOf);

        assertThat(op.epoch()).isEqualTo(1);
        assertThat(op.opId()).isEqualTo("ckpt-20260102T030405Z-000001-0c0ffe");
        assertThat(root.zk().checkExists().forPath(root.layout().epoch("g")).getVersion()).isEqualTo(1);
        byte[] record = root.zk().getData().forPath(root.layout().op("g", op.opId()));
        assertThat(ZkJson.parse(record, OpRecord.getDefaultInstance(), "op record")).isEqualTo(op.record());
        Stat owner = root.zk().checkExists().forPath(root.layout().owner("g", op.opId()));
        assertThat(owner.getEphemeralOwner()).as("the owner node goes with this coordinator's session")
                .isEqualTo(root.zk().getZookeeperClient().getZooKeeper().getSessionId());
        assertThat(new String(root.zk().getData().forPath(root.layout().owner("g", op.opId())), StandardCharsets.UTF_8))
                .isEqualTo("c1");
        assertThat(ZkJson.parse(root.zk().getData().forPath(root.layout().lock("g")), LockHolder.getDefaultInstance(), "lock")
                .getOpId()).as("the open's transaction names the op in the group lock").isEqualTo(op.opId());
        for (Phase phase : Phase.values()) {
            assertThat(root.zk().checkExists().forPath(root.layout().phase("g", op.opId(), phase))).as(phase.node())
                    .isNotNull();
        }
        for (Phase counted : List.of(Phase.FROZEN, Phase.CAPTURED)) {
            assertThat(root.zk().checkExists().forPath(root.layout().phaseCount("g", op.opId(), counted)))
                    .as("the count of a checkpoint's " + counted.node() + " barrier").isNotNull();
        }
    }

    @Test
    void eachOpenOfTheGroupGetsTheNextEpoch() throws Exception {
        opener.open("g", checkpoint(), lock, OperationOpenerTest::holderOf);

        OpenedOperation restore = opener.open("g", checkpoint().setKind(OpKind.RESTORE), lock, OperationOpenerTest::holderOf);

        assertThat(restore.epoch()).isEqualTo(2);
        assertThat(restore.opId()).isEqualTo("restore-20260102T030405Z-000002-0c0ffe");
    }

    @Test
    void aGroupWhoseLockAnotherOperationHoldsIsRefusedNamingThatOperationAndWhereItRuns() {
        assertThatThrownBy(() -> GroupLock.acquire(root.zk(), root.layout(), "g",
                LockHolder.newBuilder().setCoordinatorId("c2").build()))
                .isInstanceOfSatisfying(OperationFailedException.class,
                        e -> assertThat(e.reason()).isEqualTo(FailureReason.GROUP_BUSY))
                .hasMessage("group g is busy: operation ckpt-000001 by coordinator c1 (host ops-1, pid 4242) since "
                        + "2026-01-02T03:04:05Z");
    }

    @Test
    void anOpenThatMeetsAnotherOpenersOpIsRefusedAsBusyAndBumpsNoEpoch() throws Exception {
        // Another opener's transaction created this op id between this one's epoch read and its multi.
        root.zk().create().creatingParentsIfNeeded().forPath(root.layout().op("g", "ckpt-20260102T030405Z-000001-0c0ffe"));

        assertThatThrownBy(() -> opener.open("g", checkpoint(), lock, OperationOpenerTest::holderOf))
                .isInstanceOfSatisfying(OperationFailedException.class,
                        e -> assertThat(e.reason()).isEqualTo(FailureReason.GROUP_BUSY))
                .hasMessageContaining("another coordinator opened an operation on group g at the same time");
        assertThat(root.zk().checkExists().forPath(root.layout().epoch("g")).getVersion()).isZero();
    }
}
