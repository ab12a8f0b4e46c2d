package io.lockstep.coordinator.op;

import io.lockstep.zk.testing.ZkTestRoot;
import io.lockstep.proto.LockHolder;
import io.lockstep.proto.OpKind;
import io.lockstep.proto.OpRecord;
import io.lockstep.zk.ZkClients;
import io.lockstep.zk.ZkJson;
import org.apache.curator.framework.CuratorFramework;
import org.apache.zookeeper.CreateMode;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;

import java.time.Clock;
import java.time.Duration;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

/** The group lock is a node of one session, not a path: each rule below is one way a path-lock went wrong. */
class GroupLockTest {
    @RegisterExtension
    final ZkTestRoot root = new ZkTestRoot();
    /** The next coordinator's session. */
    private CuratorFramework next;

    @BeforeEach
    void start() throws Exception {
        next = ZkClients.connect(root.connectString(), Duration.ofSeconds(10), Duration.ofSeconds(10));
    }

    @AfterEach
    void stop() {
        next.close();
    }

    private static LockHolder holder(String coordinator) {
        return LockHolder.newBuilder().setCoordinatorId(coordinator).build();
    }

    @Test
    void aCreateWhoseAnswerWasLostIsOurLockNotABusyGroup() throws Exception {
        // The first create reached the server, its answer did not: the client's retry finds our own node.
        root.zk().create().creatingParentContainersIfNeeded().withMode(CreateMode.EPHEMERAL)
                .forPath(root.layout().lock("g"), ZkJson.toBytes(holder("me").toBuilder().setAcquisition("a1").build()));

        try (GroupLock lock = GroupLock.acquire(root.zk(), root.layout(), "g", holder("me"), "a1")) {
            lock.requireHeld();
            // Another operation of the same coordinator, on the same session, is refused all the same.
            assertThatThrownBy(() -> GroupLock.acquire(root.zk(), root.layout(), "g", holder("me")))
                    .isInstanceOfSatisfying(OperationFailedException.class,
                            e -> assertThat(e.reason()).isEqualTo(FailureReason.GROUP_BUSY));
        }
        assertThat(root.zk().checkExists().forPath(root.layout().lock("g"))).isNull();
    }

    @Test
    void releasingALostLockLeavesTheNextHoldersLockAlone() throws Exception {
        GroupLock lost = GroupLock.acquire(root.zk(), root.layout(), "g", holder("first"));
        // What the first coordinator's session expiry does; then the next coordinator takes the group.
        root.zk().delete().forPath(root.layout().lock("g"));
        try (GroupLock taken = GroupLock.acquire(next, root.layout(), "g", holder("second"))) {
            lost.close();

            assertThat(root.zk().checkExists().forPath(root.layout().lock("g"))).as("the second coordinator's lock")
                    .isNotNull();
            taken.requireHeld();
        }
    }

    @Test
    void aLostLockCannotOpenAnOperation() throws Exception {
        GroupLock lost = GroupLock.acquire(root.zk(), root.layout(), "g", holder("first"));
        root.zk().delete().forPath(root.layout().lock("g"));
        try (GroupLock taken = GroupLock.acquire(next, root.layout(), "g", holder("second"))) {
            assertThatThrownBy(() -> new OperationOpener(root.zk(), root.layout()).open("g",
                    OpRecord.newBuilder().setKind(OpKind.CHECKPOINT).setCoordinatorId("first"), lost, opId -> holder("first")))
                    .isInstanceOfSatisfying(OperationFailedException.class,
                            e -> assertThat(e.getMessage()).contains("lost the operation lock of group g"));
            assertThat(root.zk().checkExists().forPath(root.layout().ops("g")) == null
                    || root.zk().getChildren().forPath(root.layout().ops("g")).isEmpty()).as("no op opened").isTrue();
        }
    }

    @Test
    void aCommitOfAnOperationWhoseLockWasLostIsRefused() throws Exception {
        CoordinatorContext firstCtx = CoordinatorContext.create(root.zk(), root.layout(), null, Clock.systemUTC());
        CoordinatorContext secondCtx = CoordinatorContext.create(next, root.layout(), null, Clock.systemUTC());
        try (OperationSession first = OperationSession.begin(firstCtx, "g")) {
            first.open(OpRecord.newBuilder().setKind(OpKind.CHECKPOINT));
            // The first coordinator loses the group (its session expired); a second one opens the next epoch.
            root.zk().delete().forPath(root.layout().lock("g"));
            try (OperationSession second = OperationSession.begin(secondCtx, "g")) {
                second.open(OpRecord.newBuilder().setKind(OpKind.CHECKPOINT));

                assertThatThrownBy(first::commitGuards).isInstanceOfSatisfying(OperationFailedException.class,
                        e -> assertThat(e.getMessage()).contains("lost the operation lock of group g"));
            }
        }
    }
}
