package io.lockstep.agent.server;

import io.lockstep.proto.OpContext;
import io.lockstep.zk.Phase;
import io.lockstep.zk.ZkLayout;
import io.lockstep.zk.testing.ZkTestRoot;
import org.apache.curator.framework.CuratorFramework;
import org.apache.zookeeper.CreateMode;
import org.apache.zookeeper.KeeperException;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;

import java.util.List;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

/**
 * Rule: a host enters the freeze barrier only while its op is the group's current one — no later op
 * opened (epoch node version), its coordinator still owns it, and it is not decided. The freeze is
 * one call now (admission, guard, freeze, entry), so a later op opening inside that call cannot be
 * timed from the coordinator (LateFreezeTest reaches the admission fence); here each late case is
 * set up in ZooKeeper directly.
 */
class FrozenEntryTest {
    private static final long EPOCH = 3;
    private static final List<String> TWO_HOSTS = List.of("h1", "h2");

    @RegisterExtension
    final ZkTestRoot root = new ZkTestRoot();
    private CuratorFramework zk;
    private ZkLayout layout;
    private OpContext op;

    @BeforeEach
    void openOp() throws Exception {
        zk = root.zk();
        layout = root.layout();
        String epochPath = layout.epoch("app");
        zk.create().creatingParentsIfNeeded().forPath(epochPath);
        while (zk.checkExists().forPath(epochPath).getVersion() < EPOCH) {
            zk.setData().forPath(epochPath, new byte[0]);
        }
        op = OpContext.newBuilder().setGroup("app").setOpId("ckpt-3").setEpoch(EPOCH).build();
        zk.create().creatingParentsIfNeeded().withMode(CreateMode.EPHEMERAL).forPath(layout.owner("app", "ckpt-3"));
        // the barrier's parent and its count exist once the op is open
        zk.create().creatingParentsIfNeeded().forPath(layout.phase("app", "ckpt-3", Phase.FROZEN));
        zk.create().forPath(layout.phaseCount("app", "ckpt-3", Phase.FROZEN));
    }

    private boolean entered() throws Exception {
        return zk.checkExists().forPath(layout.phaseEntry("app", "ckpt-3", Phase.FROZEN, "h1")) != null;
    }

    @Test
    void theCurrentOwnedUndecidedOpEntersTheBarrier() throws Exception {
        FrozenEntry.enter(zk, layout, op, "h1", TWO_HOSTS);
        assertThat(entered()).isTrue();
    }

    @Test
    void aLaterOpOpeningBeforeTheEntryRefusesItNamingTheNewEpoch() throws Exception {
        zk.setData().forPath(layout.epoch("app"), new byte[0]);
        assertThatThrownBy(() -> FrozenEntry.enter(zk, layout, op, "h1", TWO_HOSTS))
                .hasMessageContaining("a later operation opened group app (epoch now 4) before host h1 was frozen");
        assertThat(entered()).isFalse();
    }

    @Test
    void anOpWhoseCoordinatorIsGoneIsRefused() throws Exception {
        zk.delete().forPath(layout.owner("app", "ckpt-3"));
        assertThatThrownBy(() -> FrozenEntry.enter(zk, layout, op, "h1", TWO_HOSTS))
                .hasMessageContaining("lost its coordinator").hasMessageContaining("before host h1 was frozen");
        assertThat(entered()).isFalse();
    }

    @Test
    void aDecidedOpIsRefusedAndItsEntryRemoved() throws Exception {
        zk.create().forPath(layout.decision("app", "ckpt-3"), "ABORT".getBytes());
        assertThatThrownBy(() -> FrozenEntry.enter(zk, layout, op, "h1", TWO_HOSTS))
                .hasMessageContaining("was decided").hasMessageContaining("before host h1 was frozen");
        assertThat(entered()).isFalse();
    }

    private boolean allFrozen(int participants) throws Exception {
        return zk.checkExists().forPath(layout.allFrozen("app", "ckpt-3", participants)) != null;
    }

    private int counted() throws Exception {
        return zk.getChildren().forPath(layout.phaseCount("app", "ckpt-3", Phase.FROZEN)).size();
    }

    @Test
    void theHostWhoseEntryCompletesTheBarrierCreatesAllFrozenWithItAndTheFirstDoesNot() throws Exception {
        assertThat(FrozenEntry.enter(zk, layout, op, "h2", TWO_HOSTS)).isFalse();
        assertThat(allFrozen(2)).isFalse();
        assertThat(FrozenEntry.enter(zk, layout, op, "h1", TWO_HOSTS)).isTrue();
        assertThat(allFrozen(2)).isTrue();
    }

    @Test
    void aHostAloneInTheOpCreatesAllFrozenWithItsEntry() throws Exception {
        assertThat(FrozenEntry.enter(zk, layout, op, "h1", List.of("h1"))).isTrue();
        assertThat(entered()).isTrue();
        assertThat(allFrozen(1)).isTrue();
    }

    @Test
    void aRepeatedEntryIsRefusedAndNotCountedTwiceSoOneHostCannotCompleteTheBarrier() throws Exception {
        FrozenEntry.enter(zk, layout, op, "h1", TWO_HOSTS);
        // a retry of the multi whose answer was lost: the entry exists, the whole multi fails
        assertThatThrownBy(() -> FrozenEntry.enter(zk, layout, op, "h1", TWO_HOSTS))
                .isInstanceOf(KeeperException.NodeExistsException.class);
        assertThat(counted()).isEqualTo(1);
        assertThat(allFrozen(2)).isFalse();
    }

    @Test
    void refusedEntriesAreNotCounted() throws Exception {
        zk.delete().forPath(layout.owner("app", "ckpt-3"));
        assertThatThrownBy(() -> FrozenEntry.enter(zk, layout, op, "h1", TWO_HOSTS)).hasMessageContaining("lost its coordinator");
        zk.setData().forPath(layout.epoch("app"), new byte[0]);
        assertThatThrownBy(() -> FrozenEntry.enter(zk, layout, op, "h2", TWO_HOSTS)).hasMessageContaining("stale epoch");
        assertThat(counted()).isZero();
    }

    @Test
    void aHostAloneMakesBothEntriesAndBothSignalsInOneMultiOrNothing() throws Exception {
        zk.create().forPath(layout.phase("app", "ckpt-3", Phase.CAPTURED));
        zk.create().forPath(layout.phaseCount("app", "ckpt-3", Phase.CAPTURED));
        FrozenEntry.enterAlone(zk, layout, op, "h1");
        assertThat(entered()).isTrue();
        assertThat(zk.checkExists().forPath(layout.phaseEntry("app", "ckpt-3", Phase.CAPTURED, "h1"))).isNotNull();
        assertThat(allFrozen(1)).isTrue();
        assertThat(zk.checkExists().forPath(layout.allCaptured("app", "ckpt-3", 1))).isNotNull();
    }

    @Test
    void aHostAloneWhoseOpIsStaleMakesNoEntryAndNoSignal() throws Exception {
        zk.create().forPath(layout.phase("app", "ckpt-3", Phase.CAPTURED));
        zk.create().forPath(layout.phaseCount("app", "ckpt-3", Phase.CAPTURED));
        zk.setData().forPath(layout.epoch("app"), new byte[0]);
        assertThatThrownBy(() -> FrozenEntry.enterAlone(zk, layout, op, "h1"))
                .hasMessageContaining("a later operation opened group app (epoch now 4)");
        assertThat(entered()).isFalse();
        assertThat(allFrozen(1)).isFalse();
        assertThat(zk.checkExists().forPath(layout.allCaptured("app", "ckpt-3", 1))).isNull();
    }
}
