package io.lockstep.agent.cli;

import com.google.protobuf.InvalidProtocolBufferException;
import com.google.protobuf.Struct;
import com.google.protobuf.util.JsonFormat;
import io.lockstep.agent.cgroup.CgroupLayout;
import io.lockstep.agent.cgroup.GroupCgroup;
import io.lockstep.manifest.ManifestCodec;
import io.lockstep.agent.server.AgentConfig;
import io.lockstep.agent.server.AgentServer;
import io.lockstep.proto.Manifest;
import io.lockstep.proto.ProcessRecord;
import org.apache.curator.test.TestingServer;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;
import picocli.CommandLine;

import java.io.PrintWriter;
import java.io.StringWriter;
import java.net.ServerSocket;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;
import java.util.UUID;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

/**
 * Every agent command through picocli: help, bad arguments, exit codes, JSON; capture, print and
 * status on a real group cgroup with a real process (and a real agent for status).
 */
class AgentCliTest {
    private final String root = "lockstep-test-" + UUID.randomUUID();
    private CgroupLayout layout;
    private GroupCgroup group;
    private Process process;

    @TempDir
    Path dir;

    @BeforeEach
    void startGroup() throws Exception {
        layout = CgroupLayout.detect(root);
        group = layout.forGroup("cli");
        group.create();
        List<String> command = new ArrayList<>(group.entryCommand());
        command.addAll(List.of("sleep", "3600"));
        process = new ProcessBuilder(command).start();
        await("sleep joins the group").atMost(Duration.ofSeconds(10)).until(() -> group.pids().size() == 1);
    }

    @AfterEach
    void cleanUp() throws Exception {
        group.killAll(Duration.ofSeconds(10));
        process.waitFor();
        group.remove();
        layout.removeRootIfEmpty();
    }

    private record Run(int exit, String out, String err) {
    }

    private static Run run(String... args) {
        StringWriter out = new StringWriter();
        StringWriter err = new StringWriter();
        CommandLine cli = AgentMain.commandLine();
        cli.setOut(new PrintWriter(out, true));
        cli.setErr(new PrintWriter(err, true));
        int exit = cli.execute(args);
        return new Run(exit, out.toString(), err.toString());
    }

    @Test
    void captureFreezesCapturesThawsAndPrintReadsTheManifest() throws Exception {
        Path manifest = dir.resolve("cli.manifest");
        Run capture = run("capture", "--group", "cli", "--cgroup-root", root, "--host-id", "h1", "--state-dir",
                dir.resolve("state").toString(), "--out", manifest.toString());

        assertThat(capture.exit()).as(capture.err()).isZero();
        assertThat(capture.out()).contains("captured group cli on h1: 1 processes");
        assertThat(group.isFrozen()).isFalse();
        Run json = run("print", "--json", manifest.toString());
        assertThat(json.exit()).isZero();
        assertThat(json.out()).contains("\"pid\":" + process.pid() + ",").contains("\"hostId\":\"h1\"");
        assertThat(parseJson(json.out()).getFieldsOrThrow("group").getStringValue()).isEqualTo("cli");
        Run text = run("print", manifest.toString());
        assertThat(text.out()).contains("sleep");
    }

    @Test
    void aDamagedManifestIsRefusedWithAClearError() throws Exception {
        Path manifest = dir.resolve("cli.manifest");
        byte[] bytes = ManifestCodec.encode(Manifest.newBuilder().setGroup("cli").setHostId("h1")
                .addProcesses(ProcessRecord.newBuilder().setPid(42).addArgv("sleep")).build());
        bytes[bytes.length - 1] ^= 0x01;
        Files.write(manifest, bytes);

        Run print = run("print", manifest.toString());
        assertThat(print.exit()).isEqualTo(AgentMain.FAILED);
        assertThat(print.err()).contains(manifest.toString()).containsIgnoringCase("sha256");
        assertThat(run("print", dir.resolve("absent").toString()).err()).contains("no such file");
    }

    @Test
    void printShowsEnvironmentNamesOnlyAndOpensEncryptedManifestsWithTheirKey() throws Exception {
        Path key = dir.resolve("manifest.key");
        Files.writeString(key, "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff\n");
        Files.setPosixFilePermissions(key, java.nio.file.attribute.PosixFilePermissions.fromString("rw-------"));
        Path manifest = dir.resolve("sealed.manifest");
        Files.write(manifest, io.lockstep.manifest.ManifestKey.read(key).seal(ManifestCodec.encode(Manifest.newBuilder()
                .setGroup("cli").setHostId("h1").addProcesses(ProcessRecord.newBuilder().setPid(42).addArgv("sleep")
                        .setRestart(io.lockstep.proto.RestartSpec.newBuilder().addArgv("sleep").putEnv("TOKEN", "t0ps3cret")))
                .build())));

        Run withoutKey = run("print", manifest.toString());
        assertThat(withoutKey.exit()).isEqualTo(AgentMain.FAILED);
        assertThat(withoutKey.err()).contains(manifest.toString()).contains("encrypted").contains("--manifest-key");
        Run json = run("print", manifest.toString(), "--json", "--manifest-key", key.toString());
        assertThat(json.exit()).as(json.err()).isZero();
        assertThat(json.out()).contains("TOKEN").doesNotContain("t0ps3cret");
        assertThat(run("print", manifest.toString(), "--show-env", "--manifest-key", key.toString()).out())
                .contains("TOKEN=t0ps3cret");
    }

    @ParameterizedTest
    @ValueSource(strings = {"serve", "run", "adopt", "capture", "print", "status"})
    void everyCommandExplainsItself(String command) {
        Run help = run(command, "--help");

        assertThat(help.exit()).as(help.err()).isZero();
        assertThat(help.out()).startsWith("Usage: agent " + command).contains("--help", "--version", "Exit codes:")
                .containsPattern("(?m)^ +10 +agent unreachable$");
    }

    @Test
    void rootHelpListsTheCommandsAndExitCodesAndVersionPrintsTheBuild() {
        Run help = run("--help");
        assertThat(help.exit()).isZero();
        assertThat(help.out()).contains("serve", "run", "adopt", "capture", "print", "status", "Exit codes:")
                .containsPattern("(?m)^ +2 +bad arguments$").containsPattern("(?m)^ +5 +ZooKeeper unreachable$");
        Run version = run("--version");
        assertThat(version.exit()).isZero();
        assertThat(version.out()).startsWith("lockstep agent ");
    }

    @Test
    void badArgumentsExitWithTwoAndSayWhatIsWrong() {
        assertBadArguments(run("frobnicate"), "Unmatched argument at index 0: 'frobnicate'");
        assertBadArguments(run("run", "--", "sleep", "1"), "Missing required option: '--group=<group>'");
        assertBadArguments(run("run", "--group", "g"), "Missing required parameter: 'COMMAND'");
        assertBadArguments(run("adopt", "--group", "g", "not-a-pid"), "'not-a-pid' is not an int");
        assertBadArguments(run("serve"), "Missing required option: '--host-id=<hostId>'");
        assertBadArguments(run("serve", "--host-id", "h1", "--zk", "127.0.0.1:1", "--metrics-listen", "9464"),
                "--metrics-listen must be HOST:PORT, not '9464'");
        assertBadArguments(run("serve", "--host-id", "h1", "--zk", "127.0.0.1:1", "--session-timeout", "soon"), "soon");
        assertBadArguments(run("status", "--rpc-timeout", "x"), "'x'");
        assertBadArguments(run("run", "--group", "g", "--hook-signal", "KILL", "--", "true"),
                "--hook-signal: signal 9 (SIGKILL) cannot be caught, so the program could never answer it");
        assertBadArguments(run("adopt", "--group", "g", "--hook-signal", "KILL", "1"),
                "--hook-signal: signal 9 (SIGKILL) cannot be caught, so the program could never answer it");
        assertBadArguments(run("run", "--group", "g", "--hook-signal", "USR3", "--", "true"),
                "--hook-signal: unknown signal USR3 (use a name such as USR1, USR2, HUP, or a number 1-64)");
        assertBadArguments(run("run", "--group", "g", "--hook-command", "true", "--hook-timeout", "0s", "--", "true"),
                "'0s' is not a positive duration");
    }

    @Test
    void aTypoOrAMissingDoubleDashIsNamedInOneLineWithWhereTheHelpIs() {
        Run typo = run("run", "--gruop", "g", "--", "true");
        assertBadArguments(typo, "agent: unknown option --gruop (did you mean --group?)");
        assertThat(typo.err()).contains("see `agent run --help`").doesNotContain("Usage:");
        assertThat(typo.err().lines()).hasSize(2);
        assertBadArguments(run("run", "--group", "g", "python3", "-c", "1"),
                "unknown option -c: if it is the command's own, put `--` before the command");
        assertBadArguments(run("run", "--group", "g", "--uid", "no-such-user-here", "--", "true"),
                "--uid no-such-user-here: no such user on this host");
        assertBadArguments(run("run", "--group", "g", "--uid", "4242", "--", "true"),
                "--uid 4242 has no account on this host, so no primary group: pass --gid");
        assertBadArguments(run("run", "--group", "g", "--uid", "nobody", "--gid", "no-such-group-here", "--", "true"),
                "--gid no-such-group-here: no such group on this host");
    }

    /** `--uid nobody` is a user name, and without --gid the program runs in that user's primary group, not gid 0. */
    @Test
    void runAsAUserNameTakesItsPrimaryGroupAndAUidWithoutAccountIsWarnedAbout() throws Exception {
        GroupCgroup users = layout.forGroup("cli-users");
        try (TestingServer zk = new TestingServer();
             AgentServer agent = new AgentServer(new AgentConfig("h1", "127.0.0.1:0", zk.getConnectString(),
                     "/" + root, root, Optional.empty(), dir.resolve("agent-state"), Duration.ofSeconds(10), false)
                     .withTls(Optional.empty(), true)).start()) {
            String address = "127.0.0.1:" + agent.port();
            Run byName = run("run", "--agent", address, "--group", "cli-users", "--uid", "nobody", "--cwd", "/", "--",
                    "sleep", "600");
            Run byNumber = run("run", "--agent", address, "--group", "cli-users", "--uid", "4242", "--gid", "4243",
                    "--cwd", "/", "--", "sleep", "600");

            assertThat(byName.exit()).as(byName.err()).isZero();
            assertThat(byName.err()).isEmpty();
            assertIds(Integer.parseInt(byName.out().strip()), "65534", "65534");
            assertThat(byNumber.exit()).as(byNumber.err()).isZero();
            assertThat(byNumber.err()).contains("warning: uid 4242 has no account on this host");
            assertIds(Integer.parseInt(byNumber.out().strip()), "4242", "4243");
        } finally {
            users.killAll(Duration.ofSeconds(10));
            users.remove();
        }
    }

    /** The real uid and gid of a process, once setpriv has exec'd the program. */
    private static void assertIds(int pid, String uid, String gid) {
        Path status = Path.of("/proc", Integer.toString(pid), "status");
        await("pid " + pid + " runs as " + uid + ":" + gid).atMost(Duration.ofSeconds(10)).until(() -> {
            List<String> lines = Files.readAllLines(status);
            return lines.stream().anyMatch(line -> line.matches("Uid:\\s+" + uid + "\\s.*"))
                    && lines.stream().anyMatch(line -> line.matches("Gid:\\s+" + gid + "\\s.*"));
        });
    }

    private static void assertBadArguments(Run run, String message) {
        assertThat(run.exit()).as(run.err()).isEqualTo(AgentMain.BAD_ARGUMENTS);
        assertThat(run.err()).contains(message);
    }

    @Test
    void statusOfARealAgentPrintsTextAndValidJsonAndNamesAnAgentThatDoesNotAnswer() throws Exception {
        try (TestingServer zk = new TestingServer();
             AgentServer agent = new AgentServer(new AgentConfig("h1", "127.0.0.1:0", zk.getConnectString(),
                     "/" + root, root, Optional.empty(), dir.resolve("agent-state"), Duration.ofSeconds(10), false)
                     .withSocket(dir.resolve("agent.sock"), AgentConfig.DEFAULT_SOCKET_GROUP)).start()) {
            String address = "unix:" + dir.resolve("agent.sock");
            Run text = run("status", "--agent", address);
            Run json = run("status", "--agent", address, "--json");

            assertThat(text.exit()).as(text.err()).isZero();
            assertThat(text.out()).contains("host h1").containsPattern("group cli +running +1 processes");
            assertThat(json.exit()).as(json.err()).isZero();
            Struct parsed = parseJson(json.out());
            assertThat(parsed.getFieldsOrThrow("hostId").getStringValue()).isEqualTo("h1");
            assertThat(parsed.getFieldsOrThrow("groups").getListValue().getValues(0).getStructValue()
                    .getFieldsOrThrow("group").getStringValue()).isEqualTo("cli");
            Run unknown = run("status", "--agent", address, "--group", "cl");
            assertThat(unknown.exit()).isEqualTo(AgentMain.FAILED);
            assertThat(unknown.out()).isEmpty();
            assertThat(unknown.err().strip()).isEqualTo("agent status: no group cl on host h1; known: cli");
            Run unknownJson = run("status", "--agent", address, "--group", "cl", "--json");
            assertThat(unknownJson.exit()).isEqualTo(AgentMain.FAILED);
            Struct error = parseJson(unknownJson.out()).getFieldsOrThrow("error").getStructValue();
            assertThat(error.getFieldsOrThrow("code").getNumberValue()).isEqualTo(AgentMain.FAILED);
            assertThat(error.getFieldsOrThrow("reason").getStringValue()).isEqualTo("UNKNOWN_GROUP");
            assertThat(error.getFieldsOrThrow("message").getStringValue()).isEqualTo("no group cl on host h1; known: cli");
        }
        int closedPort;
        try (ServerSocket probe = new ServerSocket(0)) {
            closedPort = probe.getLocalPort();
        }
        Run unreachable = run("status", "--agent", "127.0.0.1:" + closedPort, "--rpc-timeout", "5s");
        assertThat(unreachable.exit()).isEqualTo(AgentMain.AGENT_UNREACHABLE);
        assertThat(unreachable.err()).contains("no agent answers at 127.0.0.1:" + closedPort);
        Run unreachableJson = run("status", "--agent", "127.0.0.1:" + closedPort, "--rpc-timeout", "5s", "--json");
        assertThat(unreachableJson.exit()).isEqualTo(AgentMain.AGENT_UNREACHABLE);
        assertThat(parseJson(unreachableJson.out()).getFieldsOrThrow("error").getStructValue().getFieldsOrThrow("reason")
                .getStringValue()).isEqualTo("AGENT_UNREACHABLE");
        assertThat(unreachableJson.err()).contains("no agent answers at 127.0.0.1:" + closedPort);
    }

    /** Fails the test when the text is not one JSON object. */
    private static Struct parseJson(String text) throws InvalidProtocolBufferException {
        Struct.Builder parsed = Struct.newBuilder();
        JsonFormat.parser().merge(text, parsed);
        return parsed.build();
    }

    @Test
    void anUnknownGroupAndBadArgumentsGetClearErrors() {
        Run unknown = run("capture", "--group", "nosuch", "--cgroup-root", root, "--out", dir.resolve("x").toString());
        assertThat(unknown.exit()).isEqualTo(AgentMain.FAILED);
        assertThat(unknown.err()).contains("group nosuch does not exist");
        assertThat(run("capture", "--out", "x").exit()).isEqualTo(AgentMain.BAD_ARGUMENTS);
        assertThat(run("serve", "--help").out()).contains("--host-id").contains("--network-fs")
                .contains("--allowed-root=DIR").contains("everywhere except /proc and /sys")
                .contains("--nfs-alias=NAME=OTHER,...").contains("for a multi-homed filer");
        Run badAlias = run("serve", "--host-id", "x", "--zk", "127.0.0.1:1", "--state-dir", dir.resolve("state").toString(),
                "--nfs-alias", "nfs1=nfs1:/export");
        assertThat(badAlias.exit()).isEqualTo(AgentMain.BAD_ARGUMENTS);
        assertThat(badAlias.err()).contains("--nfs-alias 'nfs1=nfs1:/export' is not NAME=OTHER[,OTHER...]");
        Run relativeRoot = run("serve", "--host-id", "x", "--zk", "127.0.0.1:1", "--state-dir", dir.resolve("state").toString(),
                "--allowed-root", "srv");
        assertThat(relativeRoot.exit()).isEqualTo(AgentMain.BAD_ARGUMENTS);
        assertThat(relativeRoot.err()).contains("allowed root 'srv' is not an absolute path");
    }
}
