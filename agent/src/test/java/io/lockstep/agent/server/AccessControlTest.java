package io.lockstep.agent.server;

import io.grpc.ManagedChannel;
import io.grpc.Status;
import io.grpc.StatusRuntimeException;
import io.grpc.health.v1.HealthCheckRequest;
import io.grpc.health.v1.HealthCheckResponse;
import io.grpc.health.v1.HealthGrpc;
import io.grpc.netty.shaded.io.grpc.netty.NettyChannelBuilder;
import io.lockstep.agent.cgroup.CgroupLayout;
import io.lockstep.agent.cli.AgentMain;
import io.lockstep.agent.testing.EveryRpc;
import io.lockstep.agent.testing.Unprivileged;
import io.lockstep.proto.AgentGrpc;
import io.lockstep.proto.RunRequest;
import io.lockstep.proto.StatusRequest;
import org.apache.curator.test.TestingServer;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import picocli.CommandLine;

import java.io.PrintWriter;
import java.io.StringWriter;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.UUID;
import java.util.concurrent.TimeUnit;
import java.util.stream.Stream;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.awaitility.Awaitility.await;

/**
 * Local callers are who the kernel says they are (README "Security", AccessPolicy): real
 * unprivileged processes (setpriv to uid 65534 and 4242, group nogroup, which the socket admits)
 * call the agent's socket. Each refused call is refused with a message naming the caller and the
 * rule, and nothing starts, freezes or changes; the calls a user is allowed (running as itself in
 * its own group, status of its own groups) work. Plaintext TCP without --insecure-plaintext
 * answers only health.
 */
class AccessControlTest {
    private static final int NOBODY = 65534;
    private static final int NOGROUP = 65534;
    private static final int OTHER_USER = 4242;
    private static final String ID = UUID.randomUUID().toString().substring(0, 8);
    private static final String ROOTS_GROUP = "roots-" + ID;
    private static final String CGROUP_ROOT = "lockstep-test-access-" + ID;

    private static Path dir;
    private static TestingServer zk;
    private static AgentServer agent;
    private static Unprivileged users;
    private static Path socket;
    private static int rootsPid;

    @BeforeAll
    static void startAgent() throws Exception {
        dir = Files.createDirectories(Path.of("/tmp", "lockstep-access-" + ID));
        // The callers run as other users: they must reach the socket and write their marker files here.
        Files.setPosixFilePermissions(dir, PosixFilePermissions.fromString("rwxrwxrwx"));
        socket = dir.resolve("agent.sock");
        zk = new TestingServer();
        agent = new AgentServer(new AgentConfig("access-" + ID, "127.0.0.1:0", zk.getConnectString(), "/lockstep-access-" + ID,
                CGROUP_ROOT, Optional.empty(), dir.resolve("state"), Duration.ofSeconds(10), false)
                .withSocket(socket, "nogroup")).start();
        users = new Unprivileged();
        // A group root created for uid 4242 (only root may name another uid): the others' target.
        Cli started = cli("run", "--agent", "unix:" + socket, "--group", ROOTS_GROUP, "--uid", Integer.toString(OTHER_USER),
                "--gid", Integer.toString(NOGROUP), "--", "sleep", "600");
        assertThat(started.exit()).as(started.err()).isZero();
        rootsPid = Integer.parseInt(started.out().trim());
    }

    @AfterAll
    static void stopAgent() throws Exception {
        try {
            if (agent != null) {
                agent.close();
            }
            CgroupLayout layout = CgroupLayout.detect(CGROUP_ROOT);
            for (String group : layout.existingGroups()) {
                layout.forGroup(group).freezer().thaw();
                layout.forGroup(group).killAll(Duration.ofSeconds(10));
                layout.forGroup(group).remove();
            }
            layout.removeRootIfEmpty();
        } finally {
            if (users != null) {
                users.close();
            }
            if (zk != null) {
                zk.close();
            }
            try (Stream<Path> files = Files.walk(dir)) {
                files.sorted(Comparator.reverseOrder()).forEach(path -> path.toFile().delete());
            }
        }
    }

    private record Cli(int exit, String out, String err) {
    }

    /** The agent CLI in this JVM, as root. */
    private static Cli cli(String... args) {
        StringWriter out = new StringWriter();
        StringWriter err = new StringWriter();
        CommandLine command = AgentMain.commandLine();
        command.setOut(new PrintWriter(out, true));
        command.setErr(new PrintWriter(err, true));
        int exit = command.execute(args);
        return new Cli(exit, out.toString(), err.toString());
    }

    /** The agent CLI as another user, its own process, talking to the socket. */
    private static Unprivileged.Result cliAs(int uid, int gid, String... args) throws Exception {
        List<String> all = new ArrayList<>(List.of(args));
        all.add(1, "--agent");
        all.add(2, "unix:" + socket);
        return users.run(uid, gid, AgentMain.class.getName(), all.toArray(String[]::new));
    }

    private static Map<String, String> everyRpcAs(int uid, String group, Path marker) throws Exception {
        Unprivileged.Result result = users.run(uid, NOGROUP, EveryRpc.class.getName(), socket.toString(), group, marker.toString());
        assertThat(result.exit()).as(result.err()).isZero();
        Map<String, String> outcomes = new LinkedHashMap<>();
        for (String line : result.out().strip().split("\n")) {
            int space = line.indexOf(' ');
            outcomes.put(line.substring(0, space), line.substring(space + 1));
        }
        return outcomes;
    }

    @Test
    void anUnprivilegedCallerIsRefusedEveryRpcOnAnotherUsersGroupAndNothingChanges() throws Exception {
        Path marker = dir.resolve("marker-" + UUID.randomUUID());
        ManagedGroup group = agent.groups().find(ROOTS_GROUP).orElseThrow();
        int processesBefore = group.cgroup().pids().size();

        Map<String, String> outcomes = everyRpcAs(NOBODY, ROOTS_GROUP, marker);

        assertThat(outcomes.keySet()).containsExactly("RunHooks", "Freeze", "Capture", "Thaw", "Abort", "Validate",
                "RollBack", "Stage", "Prepare", "Release", "Stop", "DeleteSnapshots", "Run", "Adopt", "Status");
        for (String operation : AccessPolicy.OPERATIONS) {
            assertThat(outcomes.get(operation)).as(operation)
                    .startsWith("PERMISSION_DENIED " + operation + " refused for local uid " + NOBODY)
                    .endsWith("is for the coordinator over mutual TLS, or root on this host");
        }
        assertThat(outcomes.get("Run")).startsWith("PERMISSION_DENIED Run refused for local uid " + NOBODY)
                .contains("group " + ROOTS_GROUP + " belongs to uid 0");
        assertThat(outcomes.get("Adopt")).startsWith("PERMISSION_DENIED Adopt refused for local uid " + NOBODY)
                .contains("process 1 runs as uids [0, 0, 0, 0]");
        assertThat(outcomes.get("Status")).startsWith("PERMISSION_DENIED Status refused")
                .contains("group " + ROOTS_GROUP + " belongs to uid 0");
        assertThat(group.cgroup().isFrozen()).isFalse();
        assertThat(group.cgroup().pids()).hasSize(processesBefore).contains(rootsPid).doesNotContain(1);
        assertThat(group.frozen()).isNull();
        assertThat(group.restore()).isNull();
        assertThat(marker).doesNotExist();
        Cli status = cli("status", "--agent", "unix:" + socket, "--group", ROOTS_GROUP);
        assertThat(status.out()).containsPattern("group " + ROOTS_GROUP + " +running +1 processes +epoch 0\\n");
    }

    @Test
    void anUnprivilegedCallerRunsAsItselfInAGroupItCreatesAndSeesOnlyItsOwnGroups() throws Exception {
        String own = "own-" + UUID.randomUUID().toString().substring(0, 8);
        Path marker = dir.resolve("id-" + own);

        Unprivileged.Result run = cliAs(NOBODY, NOGROUP, "run", "--group", own, "--", "/bin/sh", "-c",
                "id -u > " + marker + "; exec sleep 600");
        Unprivileged.Result status = cliAs(NOBODY, NOGROUP, "status");
        Unprivileged.Result intruder = cliAs(OTHER_USER, NOGROUP, "run", "--group", own, "--", "/bin/true");

        assertThat(run.exit()).as(run.err()).isZero();
        await("the command of " + own + " wrote its uid").atMost(Duration.ofSeconds(30))
                .until(() -> Files.exists(marker) && !Files.readString(marker).isBlank());
        assertThat(Files.readString(marker).trim()).isEqualTo(Integer.toString(NOBODY));
        assertThat(agent.groups().find(own).orElseThrow().owner()).isEqualTo(NOBODY);
        assertThat(status.exit()).as(status.err()).isZero();
        assertThat(status.out()).contains("group " + own).doesNotContain(ROOTS_GROUP);
        assertThat(intruder.exit()).isEqualTo(AgentMain.FAILED);
        assertThat(intruder.err()).contains("PERMISSION_DENIED: Run refused for local uid " + OTHER_USER)
                .contains("group " + own + " belongs to uid " + NOBODY);
        assertThat(agent.groups().find(own).orElseThrow().cgroup().pids()).hasSize(1);
    }

    @Test
    void runningAsAnotherUidOrAsRootIsRefusedAndCreatesNothing() throws Exception {
        String group = "other-" + UUID.randomUUID().toString().substring(0, 8);
        Path marker = dir.resolve("ran-" + group);

        Unprivileged.Result asOther = cliAs(NOBODY, NOGROUP, "run", "--group", group, "--uid", Integer.toString(OTHER_USER),
                "--gid", Integer.toString(OTHER_USER), "--", "/bin/sh", "-c", "touch " + marker);
        Unprivileged.Result asRoot = cliAs(NOBODY, NOGROUP, "run", "--group", group, "--uid", "0", "--gid", "0",
                "--", "/bin/sh", "-c", "touch " + marker);
        Cli rootWithoutAllowRoot = cli("run", "--agent", "unix:" + socket, "--group", group, "--uid", "0", "--gid", "0",
                "--", "/bin/sh", "-c", "touch " + marker);

        assertThat(asOther.exit()).isEqualTo(AgentMain.FAILED);
        assertThat(asOther.err()).contains("may run commands only as itself (uid " + NOBODY + " gid " + NOGROUP
                + "), not as uid " + OTHER_USER);
        assertThat(asRoot.exit()).isEqualTo(AgentMain.FAILED);
        assertThat(asRoot.err()).contains("uid 0 needs an agent started with --allow-root");
        assertThat(rootWithoutAllowRoot.exit()).isEqualTo(AgentMain.FAILED);
        assertThat(rootWithoutAllowRoot.err()).contains("uid 0 needs an agent started with --allow-root");
        assertThat(marker).doesNotExist();
        assertThat(agent.groups().find(group)).isEmpty();
        assertThat(CgroupLayout.detect(CGROUP_ROOT).existingGroups()).doesNotContain(group);
    }

    @Test
    void rootRunsAsRootOnlyOnAnAgentWithAllowRootAndAnUnprivilegedCallerNeverDoes() throws Exception {
        Path otherSocket = dir.resolve("allow-root.sock");
        String group = "root-" + UUID.randomUUID().toString().substring(0, 8);
        Path marker = dir.resolve("uid-" + group);
        try (AgentServer permissive = new AgentServer(new AgentConfig("allow-root-" + ID, "127.0.0.1:0", zk.getConnectString(),
                "/lockstep-access-" + ID, CGROUP_ROOT, Optional.empty(), dir.resolve("state-allow-root"), Duration.ofSeconds(10),
                true).withSocket(otherSocket, "nogroup")).start()) {
            Cli asRoot = cli("run", "--agent", "unix:" + otherSocket, "--group", group, "--uid", "0", "--gid", "0", "--",
                    "/bin/sh", "-c", "id -u > " + marker);
            Unprivileged.Result nobodyAsRoot = users.run(NOBODY, NOGROUP, AgentMain.class.getName(), "run", "--agent",
                    "unix:" + otherSocket, "--group", "n-" + group, "--uid", "0", "--gid", "0", "--", "/bin/true");

            assertThat(asRoot.exit()).as(asRoot.err()).isZero();
            await("the root command wrote its uid").atMost(Duration.ofSeconds(30))
                    .until(() -> Files.exists(marker) && !Files.readString(marker).isBlank());
            assertThat(Files.readString(marker).trim()).isEqualTo("0");
            assertThat(nobodyAsRoot.exit()).isEqualTo(AgentMain.FAILED);
            assertThat(nobodyAsRoot.err()).contains("may run commands only as itself");
            assertThat(permissive.groups().find("n-" + group)).isEmpty();
        }
    }

    @Test
    void plaintextTcpWithoutInsecurePlaintextAnswersOnlyHealth() throws Exception {
        ManagedChannel channel = NettyChannelBuilder.forTarget("127.0.0.1:" + agent.port()).usePlaintext().build();
        try {
            HealthCheckResponse health = HealthGrpc.newBlockingStub(channel).withDeadlineAfter(10, TimeUnit.SECONDS)
                    .check(HealthCheckRequest.getDefaultInstance());
            AgentGrpc.AgentBlockingStub api = AgentGrpc.newBlockingStub(channel).withDeadlineAfter(10, TimeUnit.SECONDS);

            assertThat(health.getStatus()).isEqualTo(HealthCheckResponse.ServingStatus.SERVING);
            assertThatThrownBy(() -> api.status(StatusRequest.getDefaultInstance()))
                    .isInstanceOfSatisfying(StatusRuntimeException.class, e -> {
                        assertThat(e.getStatus().getCode()).isEqualTo(Status.Code.PERMISSION_DENIED);
                        assertThat(e.getStatus().getDescription()).contains("plaintext TCP is anonymous")
                                .contains("--insecure-plaintext");
                    });
            String group = "tcp-" + UUID.randomUUID().toString().substring(0, 8);
            assertThatThrownBy(() -> api.run(RunRequest.newBuilder().setGroup(group).addArgv("/bin/true")
                    .setUid(NOBODY).setGid(NOGROUP).build()))
                    .isInstanceOfSatisfying(StatusRuntimeException.class,
                            e -> assertThat(e.getStatus().getCode()).isEqualTo(Status.Code.PERMISSION_DENIED));
            assertThat(agent.groups().find(group)).isEmpty();
        } finally {
            channel.shutdownNow();
        }
    }

    @Test
    void theSocketIsOpenOnlyToRootAndItsGroup() throws Exception {
        assertThat(Files.getPosixFilePermissions(socket)).isEqualTo(PosixFilePermissions.fromString("rw-rw----"));
        assertThat(Files.getAttribute(socket, "unix:gid")).isEqualTo(NOGROUP);

        Unprivileged.Result outsider = users.run(OTHER_USER, OTHER_USER, AgentMain.class.getName(), "status", "--agent",
                "unix:" + socket, "--rpc-timeout", "10s");

        assertThat(outsider.exit()).isEqualTo(AgentMain.AGENT_UNREACHABLE);
        assertThat(outsider.err()).contains("Permission denied");
    }
}
