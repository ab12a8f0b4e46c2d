package io.lockstep.agent.server;

import io.lockstep.proto.OpContext;
import io.lockstep.proto.OpKind;
import io.lockstep.proto.OpRecord;
import io.lockstep.zk.ZkJson;
import io.lockstep.zk.ZkLayout;
import io.lockstep.zk.testing.ZkTestRoot;
import org.apache.curator.framework.CuratorFramework;
import org.apache.zookeeper.CreateMode;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;

import java.util.List;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

/**
 * Rule: an operation starts on a host only if its epoch is the group's newest, its op record exists
 * with that epoch, it is not decided yet, and the host is one of its participants.
 */
class OpAdmissionTest {
    @RegisterExtension
    final ZkTestRoot root = new ZkTestRoot();
    private CuratorFramework zk;
    private ZkLayout layout;
    private OpAdmission admission;

    @BeforeEach
    void newRoot() throws Exception {
        zk = root.zk();
        layout = root.layout();
        admission = new OpAdmission(zk, layout, new EpochFence(), "h1");
    }

    /** Writes groups/app/epoch at version {@code epoch} and the op record of ckpt-{@code epoch}. */
    private OpContext open(long epoch, List<String> participants) throws Exception {
        String epochPath = layout.epoch("app");
        if (zk.checkExists().forPath(epochPath) == null) {
            zk.create().creatingParentsIfNeeded().forPath(epochPath);
        }
        while (zk.checkExists().forPath(epochPath).getVersion() < epoch) {
            zk.setData().forPath(epochPath, new byte[0]);
        }
        String opId = "ckpt-" + epoch;
        OpRecord record = OpRecord.newBuilder().setOpId(opId).setKind(OpKind.CHECKPOINT).setEpoch(epoch)
                .addAllParticipants(participants).build();
        zk.create().creatingParentsIfNeeded().withMode(CreateMode.PERSISTENT)
                .forPath(layout.op("app", opId), ZkJson.toBytes(record));
        return OpContext.newBuilder().setGroup("app").setOpId(opId).setEpoch(epoch).build();
    }

    @Test
    void aParticipantOfTheNewestOpIsAdmittedWithItsRecord() throws Exception {
        OpContext ctx = open(2, List.of("h1", "h2"));

        OpRecord record = admission.admitNew(ctx);

        assertThat(record.getParticipantsList()).containsExactly("h1", "h2");
        assertThat(admission.fence().newest("app")).isEqualTo(2);
    }

    @Test
    void anEpochOlderThanTheGroupsEpochInZooKeeperIsRefused() throws Exception {
        OpContext old = open(1, List.of("h1"));
        open(3, List.of("h1"));

        assertThatThrownBy(() -> admission.admitNew(old)).hasMessageContaining("stale epoch 1");
    }

    @Test
    void aHostThatIsNotAParticipantIsRefusedNamingTheParticipants() throws Exception {
        OpContext ctx = open(1, List.of("h2", "h3"));

        assertThatThrownBy(() -> admission.admitNew(ctx))
                .hasMessageContaining("host h1 is not a participant of op ckpt-1")
                .hasMessageContaining("[h2, h3]");
    }

    @Test
    void anUnknownOpIsRefusedNamingItsPath() throws Exception {
        open(1, List.of("h1"));
        OpContext missing = OpContext.newBuilder().setGroup("app").setOpId("ckpt-1-missing").setEpoch(1).build();

        assertThatThrownBy(() -> admission.admitNew(missing))
                .hasMessageContaining("unknown operation ckpt-1-missing")
                .hasMessageContaining(layout.op("app", "ckpt-1-missing"));
    }

    @Test
    void anOpThatIsAlreadyDecidedNeverStartsAgain() throws Exception {
        OpContext ctx = open(1, List.of("h1"));
        zk.create().forPath(layout.decision("app", ctx.getOpId()), "ABORT".getBytes());

        assertThatThrownBy(() -> admission.admitNew(ctx)).hasMessageContaining("is already decided");
    }
}
