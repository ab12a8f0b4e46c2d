package io.lockstep.agent.server;

import io.lockstep.agent.cgroup.CgroupLayout;
import io.lockstep.agent.cgroup.FreezeGuard;
import io.lockstep.agent.cgroup.GroupCgroup;
import io.lockstep.proto.OpContext;
import io.lockstep.proto.OpKind;
import io.lockstep.zk.Decision;
import io.lockstep.zk.testing.ZkTestRoot;
import io.lockstep.zk.Phase;
import org.apache.zookeeper.CreateMode;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;

import java.time.Duration;
import java.time.Instant;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * A restarted agent (docs/DESIGN.md, "Checkpoint": "A restarted agent reconciles"): before it serves, it re-adopts the groups
 * under its cgroup root, thaws a group its predecessor left frozen only after every undecided op
 * of that group is decided ABORT (a commit must never include a host that thawed), stops the freeze
 * guard the predecessor left armed, starts its fence at the group's epoch in ZooKeeper, and keeps
 * exactly the memberships of groups that still have processes here.
 *
 * <p>The predecessor is what a dead agent leaves behind: a frozen cgroup with its processes, an
 * armed guard process, and the op records in ZooKeeper; nothing of it lives in this JVM.
 */
class ReconcilerTest {
    private static final Duration BUDGET = Duration.ofSeconds(30);
    /** Long enough that the predecessor's guard never fires by itself during a test. */
    private static final Duration GUARD_TIME = Duration.ofMinutes(5);
    @RegisterExtension
    final ZkTestRoot zooKeeper = new ZkTestRoot();
    private AgentParts predecessor;
    private AgentRegistration restartedRegistration;

    @BeforeEach
    void start() throws Exception {
        predecessor = AgentParts.start("h1", zooKeeper);
    }

    @AfterEach
    void stop() throws Exception {
        try {
            if (restartedRegistration != null) {
                restartedRegistration.close();
            }
        } finally {
            predecessor.close();
        }
    }

    /** The restarted agent on the same host, cgroup root and state: registry, fence and registration are new. */
    private record Restarted(GroupRegistry groups, EpochFence fence) {
    }

    private Restarted restartAndReconcile() throws Exception {
        GroupRegistry groups = new GroupRegistry(CgroupLayout.detect(predecessor.cgroupRoot), predecessor.config.stateDir());
        EpochFence fence = new EpochFence();
        restartedRegistration = new AgentRegistration(predecessor.zk, predecessor.layout, "h1");
        try (var guards = AgentParts.attachGuard(predecessor.config)) {
            new Reconciler(predecessor.zk, predecessor.layout, "h1", guards).reconcile(groups, restartedRegistration, fence);
        }
        return new Restarted(groups, fence);
    }

    /** What the predecessor did before it died: armed a guard, froze, entered the frozen barrier. */
    private FreezeGuard freezeAsThePredecessorDid(String group, OpContext op) throws Exception {
        GroupCgroup cgroup = predecessor.cgroup(group);
        FreezeGuard guard = FreezeGuard.arm(cgroup.freezer(), GUARD_TIME);
        cgroup.freezer().freeze(Instant.now().plus(BUDGET));
        predecessor.zk.create().withMode(CreateMode.EPHEMERAL)
                .forPath(predecessor.layout.phaseEntry(group, op.getOpId(), Phase.FROZEN, "h1"));
        return guard;
    }

    @Test
    void aGroupLeftFrozenIsThawedOnlyAfterItsUndecidedOpIsDecidedAbort() throws Exception {
        String group = AgentParts.newGroup();
        predecessor.run(group, "sleep", "600");
        OpContext committed = predecessor.open(group, OpKind.CHECKPOINT, BUDGET);
        predecessor.decide(committed, Decision.commit());
        OpContext undecided = predecessor.open(group, OpKind.CHECKPOINT, BUDGET);
        freezeAsThePredecessorDid(group, undecided);

        restartAndReconcile();

        assertThat(predecessor.cgroup(group).isFrozen()).isFalse();
        assertThat(predecessor.decision(undecided)).hasValueSatisfying(d -> {
            assertThat(d.isCommit()).isFalse();
            assertThat(d.reason()).isEqualTo("agent on host h1 restarted while the group was frozen");
        });
        assertThat(predecessor.decision(committed)).as("a decided op keeps its decision")
                .hasValueSatisfying(d -> assertThat(d.isCommit()).isTrue());
    }

    @Test
    void theFreezeGuardThePredecessorLeftArmedIsStoppedBeforeTheAgentServes() throws Exception {
        String group = AgentParts.newGroup();
        predecessor.run(group, "sleep", "600");
        FreezeGuard guard = freezeAsThePredecessorDid(group, predecessor.open(group, OpKind.CHECKPOINT, BUDGET));

        restartAndReconcile();

        assertThat(ProcessHandle.of(guard.pid()).filter(ProcessHandle::isAlive))
                .as("guard pid %d, which would thaw a later checkpoint in the middle of its frozen window", guard.pid())
                .isEmpty();
        assertThat(FreezeGuard.cancelOrphans(predecessor.cgroup(group).freezer())).as("guards still armed").isEmpty();
    }

    @Test
    void theRestartedAgentReAdoptsItsGroupsWithTheirEpochAndProcesses() throws Exception {
        String group = AgentParts.newGroup();
        int pid = predecessor.run(group, "sleep", "600");
        predecessor.open(group, OpKind.CHECKPOINT, BUDGET);
        predecessor.open(group, OpKind.CHECKPOINT, BUDGET);

        Restarted restarted = restartAndReconcile();

        assertThat(restarted.groups().find(group)).hasValueSatisfying(managed -> {
            try {
                assertThat(managed.cgroup().pids()).containsExactly(pid);
            } catch (java.io.IOException e) {
                throw new java.io.UncheckedIOException(e);
            }
        });
        assertThat(restarted.fence().newest(group)).as("an epoch-1 request is stale from the start").isEqualTo(2);
        assertThat(predecessor.cgroup(group).isFrozen()).as("a group that was not frozen stays as it was").isFalse();
    }

    @Test
    void onlyGroupsWithProcessesHereKeepThisHostsMembership() throws Exception {
        String running = AgentParts.newGroup();
        predecessor.run(running, "sleep", "600");
        String ended = AgentParts.newGroup();
        predecessor.run(ended, "sleep", "600");
        predecessor.cgroup(ended).killAll(Duration.ofSeconds(10));
        String forgotten = AgentParts.newGroup();
        predecessor.zk.create().creatingParentsIfNeeded().forPath(predecessor.layout.member(forgotten, "h1"));
        predecessor.zk.delete().forPath(predecessor.layout.member(running, "h1"));

        restartAndReconcile();

        assertThat(predecessor.zk.checkExists().forPath(predecessor.layout.member(running, "h1")))
                .as("membership of a group with processes here (joined again)").isNotNull();
        assertThat(predecessor.zk.checkExists().forPath(predecessor.layout.member(ended, "h1")))
                .as("membership of a group whose processes ended while no agent ran").isNull();
        assertThat(predecessor.zk.checkExists().forPath(predecessor.layout.member(forgotten, "h1")))
                .as("membership of a group without a cgroup here").isNull();
    }
}
