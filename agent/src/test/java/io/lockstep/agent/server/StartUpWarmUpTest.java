package io.lockstep.agent.server;

import ch.qos.logback.classic.Level;
import ch.qos.logback.classic.Logger;
import ch.qos.logback.classic.spi.ILoggingEvent;
import ch.qos.logback.core.read.ListAppender;
import io.lockstep.agent.cgroup.Backend;
import io.lockstep.agent.cgroup.CgroupLayout;
import io.lockstep.agent.cgroup.GroupCgroup;
import io.lockstep.zk.ZkClients;
import io.lockstep.zk.ZkLayout;
import io.lockstep.zk.testing.ZkTestRoot;
import org.apache.curator.framework.CuratorFramework;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;

import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Comparator;
import java.util.List;
import java.util.Optional;
import java.util.Set;
import java.util.UUID;
import java.util.stream.Collectors;
import java.util.stream.Stream;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

/**
 * The agent's start-up warm-up (docs/DESIGN.md, "The first checkpoint after a start"): a real
 * AgentServer on cgroup v2 runs a checkpoint's window — guard, freeze, the capture a group's
 * checkpoint runs, thaw — on a child of its own, started as {@code agent run} starts one, in a
 * scratch cgroup before it registers, and leaves nothing behind — no scratch cgroup, no child
 * process, no scratch state directory, no group, no membership, no warm-up node; an agent whose
 * warm-up cannot get its scratch cgroup still starts and registers.
 */
class StartUpWarmUpTest {
    private static final Duration SESSION = Duration.ofSeconds(4);
    @RegisterExtension
    final ZkTestRoot zooKeeper = new ZkTestRoot();
    private final String id = UUID.randomUUID().toString().substring(0, 8);
    private final String hostId = "warm-" + id;
    private final String cgroupRoot = "lockstep-test-warm-" + id;
    private CgroupLayout cgroups;
    private Path dir;
    private CuratorFramework zk;
    private ZkLayout layout;
    private AgentServer agent;
    /** What the checkpoint participant logs while the test runs: the warm-up's WARN when it fails. */
    private final ListAppender<ILoggingEvent> logged = new ListAppender<>();

    @BeforeEach
    void prepare() throws Exception {
        logged.start();
        participantLogger().addAppender(logged);
        cgroups = CgroupLayout.detect(cgroupRoot).withBackend(Backend.CGROUP_V2);
        dir = Files.createTempDirectory(Path.of("/tmp"), "lockstep-warm-");
        zk = ZkClients.connect(zooKeeper.connectString(), SESSION, Duration.ofSeconds(10));
        layout = zooKeeper.layout();
    }

    private static Logger participantLogger() {
        return (Logger) org.slf4j.LoggerFactory.getLogger(CheckpointParticipant.class);
    }

    /** The INFO lines of a window warm-up that ran through. */
    private List<String> warmUpSummaries() {
        return logged.list.stream().filter(event -> event.getLevel() == Level.INFO)
                .map(ILoggingEvent::getFormattedMessage)
                .filter(message -> message.startsWith("host " + hostId + ": the checkpoint window warmed up on")).toList();
    }

    /** The WARNs of a failed window warm-up on this host. */
    private List<String> warmUpWarnings() {
        return logged.list.stream().filter(event -> event.getLevel() == Level.WARN)
                .map(ILoggingEvent::getFormattedMessage)
                .filter(message -> message.startsWith("host " + hostId + ": warming up freeze, capture and thaw")).toList();
    }

    @AfterEach
    void cleanUp() throws Exception {
        participantLogger().detachAppender(logged);
        try {
            if (agent != null) {
                agent.close();
            }
        } finally {
            Path root = cgroups.rootPath().orElseThrow();
            if (Files.exists(root.resolve("cgroup.max.descendants"))) {
                Files.writeString(root.resolve("cgroup.max.descendants"), "max");
            }
            for (GroupCgroup left : cgroups.leftScratchGroups()) {
                left.killAll(Duration.ofSeconds(10));
                left.remove();
            }
            for (String group : cgroups.existingGroups()) {
                cgroups.forGroup(group).killAll(Duration.ofSeconds(10));
                cgroups.forGroup(group).remove();
            }
            cgroups.removeRootIfEmpty();
            zk.close();
            try (Stream<Path> files = Files.walk(dir)) {
                files.sorted(Comparator.reverseOrder()).forEach(path -> path.toFile().delete());
            }
        }
    }

    private AgentServer startAgent() throws Exception {
        return new AgentServer(new AgentConfig(hostId, "127.0.0.1:0", zooKeeper.connectString(), layout.root(), cgroupRoot,
                Optional.of(Backend.CGROUP_V2), dir.resolve("state"), SESSION, false)).start();
    }

    /** The {@code sleep} children of this JVM (where the agent runs), by pid. */
    private static Set<Long> sleepChildren() {
        return ProcessHandle.current().children()
                .filter(child -> child.info().command().map(command -> command.endsWith("/sleep")).orElse(false))
                .map(ProcessHandle::pid).collect(Collectors.toSet());
    }

    private List<String> cgroupsUnderTheAgentsRoot() throws Exception {
        try (Stream<Path> children = Files.list(cgroups.rootPath().orElseThrow())) {
            return children.filter(Files::isDirectory).map(path -> path.getFileName().toString()).toList();
        }
    }

    private void assertNothingOfTheWarmUpIsLeft(Set<Long> sleepsBefore) throws Exception {
        assertThat(cgroupsUnderTheAgentsRoot()).as("cgroups under the agent's root " + cgroups.rootPath().orElseThrow()).isEmpty();
        assertThat(agent.groups().all()).as("groups the agent manages").isEmpty();
        assertThat(agent.groups().rediscover()).as("groups a restarted agent would find").isEmpty();
        assertThat(zk.checkExists().forPath(layout.groups()) == null ? List.of() : zk.getChildren().forPath(layout.groups()))
                .as("groups (and so memberships) in ZooKeeper").isEmpty();
        assertThat(zk.checkExists().forPath(layout.warmUp(hostId))).as("the warm-up node " + layout.warmUp(hostId)).isNull();
        Path scratchDir = dir.resolve("state").resolve(CheckpointParticipant.WARM_UP_DIR);
        assertThat(Files.exists(scratchDir)).as("the warm-up's output file and restart spec in " + scratchDir).isFalse();
        await("the warm-up's sleep child is gone").atMost(Duration.ofSeconds(10))
                .until(() -> sleepsBefore.containsAll(sleepChildren()));
    }

    @Test
    void theWarmUpFreezesAScratchCgroupBeforeTheAgentRegistersAndLeavesNothingBehind() throws Exception {
        Set<Long> sleepsBefore = sleepChildren();

        agent = startAgent();

        assertThat(warmUpWarnings()).as("the warm-up froze, captured and thawed without a failure").isEmpty();
        // A capture of a checkpoint's kind (kept on the group, framed, counted) of a process with a restart
        // spec, stdin /dev/null and stdout/stderr on one output file: no warning (a pipe or a process
        // without a spec would give one), so the first checkpoint's capture of such a process runs no new code.
        assertThat(warmUpSummaries()).as("the warm-up's summary").singleElement().asString()
                .contains("10 times freeze, capture (1 processes, 3 fds, 1 files, 0 warnings) and thaw");
        assertThat(zk.checkExists().forPath(layout.host(hostId))).as("the agent registered").isNotNull();
        assertNothingOfTheWarmUpIsLeft(sleepsBefore);
    }

    @Test
    void anAgentWhoseWarmUpCannotMakeItsScratchCgroupStillStartsAndRegisters() throws Exception {
        Path root = cgroups.rootPath().orElseThrow();
        // No cgroup may be made under the agent's root: the warm-up's scratch cgroup fails (EAGAIN).
        Files.writeString(root.resolve("cgroup.max.descendants"), "0");
        Set<Long> sleepsBefore = sleepChildren();

        agent = startAgent();

        assertThat(warmUpWarnings()).as("the warm-up's failure is a WARN naming the scratch cgroup").singleElement()
                .asString().contains(root.resolve(CgroupLayout.SCRATCH_PREFIX).toString());
        assertThat(zk.checkExists().forPath(layout.host(hostId))).as("the agent registered").isNotNull();
        assertNothingOfTheWarmUpIsLeft(sleepsBefore);
    }

    @Test
    void aScratchCgroupAndDirectoryAnEarlierAgentLeftAreNeverAGroupAndTheNextStartRemovesThem() throws Exception {
        GroupCgroup left = cgroups.scratchGroup();
        left.create();
        Path leftDir = Files.createDirectories(dir.resolve("state").resolve(CheckpointParticipant.WARM_UP_DIR).resolve("specs"));
        Files.writeString(leftDir.resolve("1.spec"), "left by an agent that died during its warm-up");
        Process leftChild = new ProcessBuilder("sleep", "60").start();
        try {
            left.addProcess((int) leftChild.pid());
            left.freezer().freeze(java.time.Instant.now().plusSeconds(10));
            assertThat(cgroups.existingGroups()).as("groups under " + root()).isEmpty();
            Set<Long> sleepsBefore = new java.util.HashSet<>(sleepChildren());
            sleepsBefore.remove(leftChild.pid());

            agent = startAgent();

            assertThat(warmUpWarnings()).as("the warm-up ran after removing the left scratch cgroup").isEmpty();
            await("the left scratch cgroup's frozen process is killed").atMost(Duration.ofSeconds(10))
                    .until(() -> !leftChild.isAlive());
            assertNothingOfTheWarmUpIsLeft(sleepsBefore);
        } finally {
            leftChild.destroyForcibly();
        }
    }

    private Path root() {
        return cgroups.rootPath().orElseThrow();
    }
}
