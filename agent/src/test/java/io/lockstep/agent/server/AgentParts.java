package io.lockstep.agent.server;

import io.lockstep.agent.cgroup.CgroupLayout;
import io.lockstep.agent.cgroup.FreezeGuard;
import io.lockstep.agent.cgroup.GroupCgroup;
import io.lockstep.files.PrivateFiles;
import io.lockstep.proto.OpContext;
import io.lockstep.proto.OpKind;
import io.lockstep.proto.OpRecord;
import io.lockstep.proto.RunRequest;
import io.lockstep.zk.Decision;
import io.lockstep.zk.Decisions;
import io.lockstep.zk.Phase;
import io.lockstep.zk.ZkClients;
import io.lockstep.zk.ZkJson;
import io.lockstep.zk.ZkLayout;
import io.lockstep.zk.testing.ZkTestRoot;
import org.apache.curator.framework.CuratorFramework;
import org.apache.zookeeper.CreateMode;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.Optional;
import java.util.UUID;
import java.util.concurrent.ScheduledThreadPoolExecutor;
import java.util.concurrent.TimeUnit;
import java.util.stream.Stream;

/**
 * One agent's real parts, wired as {@link AgentServer} wires them but without its network server:
 * a ZooKeeper session of its own on the test's {@link ZkTestRoot}, a cgroup root and
 * a state directory of its own, the participants and the gRPC service. It also plays the
 * coordinator's part in ZooKeeper (open an op, decide it). {@link #close()} fails the test if it
 * left a group frozen, after it aborted what is in flight as an agent shutdown does, kills and removes every group, stops any freeze guard left,
 * and deletes the directories — also after a failed test.
 */
final class AgentParts implements AutoCloseable {
    /** Short, so that a freeze's minimum guard time (session + 2 margins) stays a few seconds. */
    static final Duration SESSION = Duration.ofSeconds(4);
    /** The uid and gid the test applications run as (the agent refuses root without --allow-root). */
    static final int NOBODY = 65534;

    final String hostId;
    final String cgroupRoot;
    final Path dir;
    /** World-writable: where the applications, running as nobody, keep their files. */
    final Path work;
    final AgentConfig config;
    final CuratorFramework zk;
    final ZkLayout layout;
    final EpochFence fence = new EpochFence();
    final GroupRegistry groups;
    final AgentRegistration registration;
    final CheckpointParticipant checkpoint;
    /** This host's long-lived freeze guard, at {@code <state>/guard.sock}. */
    final io.lockstep.agent.cgroup.GuardDaemon guards;
    final RestoreParticipant restore;
    final GroupProcesses processes;
    final AgentService service;
    private final ScheduledThreadPoolExecutor timer;

    private AgentParts(String hostId, ZkTestRoot zooKeeper) throws Exception {
        this.hostId = hostId;
        String id = UUID.randomUUID().toString().substring(0, 8);
        this.cgroupRoot = "lockstep-test-parts-" + id;
        this.dir = Files.createTempDirectory(Path.of("/tmp"), "lockstep-parts-");
        // The applications and stubs run as nobody and reach their files by absolute paths.
        Files.setPosixFilePermissions(dir, PosixFilePermissions.fromString("rwx--x--x"));
        this.work = Files.createDirectories(dir.resolve("work"));
        Files.setPosixFilePermissions(work, PosixFilePermissions.fromString("rwxrwxrwx"));
        this.config = new AgentConfig(hostId, "127.0.0.1:0", zooKeeper.connectString(), zooKeeper.layout().root(),
                cgroupRoot, Optional.empty(), dir.resolve("state"), SESSION, false);
        PrivateFiles.ownDirectory(config.stateDir());
        this.layout = new ZkLayout(config.zkRoot());
        this.zk = ZkClients.connect(zooKeeper.connectString(), SESSION, Duration.ofSeconds(10));
        this.timer = new ScheduledThreadPoolExecutor(2);
        timer.setExecuteExistingDelayedTasksAfterShutdownPolicy(false);
        this.groups = new GroupRegistry(CgroupLayout.detect(cgroupRoot), config.stateDir());
        OpAdmission admission = new OpAdmission(zk, layout, fence, hostId);
        AgentMetrics metrics = new AgentMetrics(hostId);
        this.registration = new AgentRegistration(zk, layout, hostId);
        this.guards = attachGuard(config);
        CheckpointParts checkpointParts = new CheckpointParts(config, zk, layout, admission, groups, timer, metrics);
        this.checkpoint = new CheckpointParticipant(checkpointParts, guards);
        this.restore = new RestoreParticipant(config, zk, layout, admission, groups, registration, timer);
        this.processes = new GroupProcesses(groups, registration, false, config.stateDir(), CheckpointHooks.hooksDir(config));
        this.service = new AgentService(hostId, checkpoint,
                new CheckpointHooks(checkpointParts), restore,
                new SnapshotRetention(config, zk, layout), processes,
                new AgentStatus(hostId, List.of(), groups, fence), metrics);
    }

    /** Attaches to the freeze guard of the agent with this configuration (a restarted agent finds the running one). */
    static io.lockstep.agent.cgroup.GuardDaemon attachGuard(AgentConfig config) throws IOException {
        return io.lockstep.agent.cgroup.GuardDaemon.attach(io.lockstep.agent.restore.StubBinary.program(
                io.lockstep.agent.cgroup.GuardDaemon.class, io.lockstep.agent.cgroup.GuardDaemon.NAME, config.stateDir()),
                config.stateDir().resolve("guard.sock"));
    }

    /** On the test's ZooKeeper root (which the ZkTestRoot extension removes after the test). */
    static AgentParts start(String hostId, ZkTestRoot zooKeeper) throws Exception {
        return new AgentParts(hostId, zooKeeper);
    }

    /** A new group name, unique to this test. */
    static String newGroup() {
        return "g-" + UUID.randomUUID().toString().substring(0, 8);
    }

    /** Starts {@code argv} as nobody in the group, in {@link #work}, through the agent's own Run path. */
    int run(String group, String... argv) throws IOException {
        return processes.run(RunRequest.newBuilder().setGroup(group).addAllArgv(List.of(argv))
                .setCwd(work.toString()).setUid(NOBODY).setGid(NOBODY).putEnv("PATH", "/usr/bin:/bin").build()).getPid();
    }

    /**
     * What a coordinator's Open does: bumps the group's epoch and writes the op record (this host
     * its only participant unless {@code participants} are named, {@code budget} its time), its
     * owner node and its barrier parents.
     */
    OpContext open(String group, OpKind kind, Duration budget, String... participants) throws Exception {
        String epochPath = layout.epoch(group);
        if (zk.checkExists().forPath(epochPath) == null) {
            zk.create().creatingParentsIfNeeded().forPath(epochPath);
        }
        long epoch = zk.setData().forPath(epochPath, new byte[0]).getVersion();
        String opId = (kind == OpKind.RESTORE ? "restore-" : "ckpt-") + epoch;
        OpRecord record = OpRecord.newBuilder().setOpId(opId).setKind(kind).setEpoch(epoch)
                .addAllParticipants(participants.length == 0 ? List.of(hostId) : List.of(participants))
                .setCoordinatorId("test").setOpenedUnixMs(System.currentTimeMillis())
                .setDeadlineUnixMs(System.currentTimeMillis() + budget.toMillis()).setTimeoutMs(budget.toMillis()).build();
        zk.create().creatingParentsIfNeeded().forPath(layout.op(group, opId), ZkJson.toBytes(record));
        zk.create().withMode(CreateMode.EPHEMERAL).forPath(layout.owner(group, opId));
        for (Phase phase : Phase.values()) {
            zk.create().forPath(layout.phase(group, opId, phase));
        }
        if (kind == OpKind.CHECKPOINT) {
            for (Phase counted : Phase.CHECKPOINT) {
                zk.create().forPath(layout.phaseCount(group, opId, counted));
            }
        }
        return OpContext.newBuilder().setGroup(group).setOpId(opId).setEpoch(epoch).build();
    }

    /** Another host's entry in a checkpoint barrier, made as its agent makes it: the entry and its count child. */
    void enterAs(OpContext op, Phase phase, String host) throws Exception {
        zk.transaction().forOperations(
                zk.transactionOp().create().withMode(CreateMode.EPHEMERAL)
                        .forPath(layout.phaseEntry(op.getGroup(), op.getOpId(), phase, host)),
                zk.transactionOp().create().withMode(CreateMode.PERSISTENT_SEQUENTIAL)
                        .forPath(layout.phaseCountChild(op.getGroup(), op.getOpId(), phase)));
    }

    Decision decide(OpContext op, Decision decision) throws Exception {
        return new Decisions(zk, layout).decide(op.getGroup(), op.getOpId(), decision);
    }

    Optional<Decision> decision(OpContext op) throws Exception {
        return new Decisions(zk, layout).read(op.getGroup(), op.getOpId());
    }

    GroupCgroup cgroup(String group) throws IOException {
        return groups.open(group).cgroup();
    }

    /** The groups under this agent's cgroup root that are frozen now. */
    private List<String> frozenGroups() throws IOException {
        List<String> frozen = new ArrayList<>();
        CgroupLayout layout = CgroupLayout.detect(cgroupRoot);
        for (String group : layout.existingGroups()) {
            if (layout.forGroup(group).isFrozen()) {
                frozen.add(group);
            }
        }
        return frozen;
    }

    /**
     * Cleans up, then fails the test if it left a group frozen (docs/DESIGN.md, "Invariants": no
     * group is left frozen after an operation ends).
     */
    @Override
    public void close() throws Exception {
        List<String> leftFrozen = frozenGroups();
        cleanUp();
        if (!leftFrozen.isEmpty()) {
            throw new AssertionError("groups left frozen by the test on host " + hostId + ": " + leftFrozen);
        }
    }

    private void cleanUp() throws Exception {
        try {
            checkpoint.abortAll("test over");
            restore.abortAll("test over");
            timer.shutdown();
            timer.awaitTermination(10, TimeUnit.SECONDS);
            guards.close();
            registration.close();
            CgroupLayout cgroups = CgroupLayout.detect(cgroupRoot);
            for (String group : cgroups.existingGroups()) {
                GroupCgroup cgroup = cgroups.forGroup(group);
                FreezeGuard.cancelOrphans(cgroup.freezer());
                cgroup.freezer().thaw();
                cgroup.killAll(Duration.ofSeconds(10));
                cgroup.remove();
            }
            cgroups.removeRootIfEmpty();
        } finally {
            zk.close();
            try (Stream<Path> files = Files.walk(dir)) {
                files.sorted(Comparator.reverseOrder()).forEach(path -> path.toFile().delete());
            }
        }
    }
}
