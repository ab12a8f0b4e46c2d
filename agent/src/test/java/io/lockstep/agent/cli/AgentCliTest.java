package io.lockstep.agent.cli;

import io.lockstep.agent.cgroup.CgroupLayout;
import io.lockstep.agent.cgroup.GroupCgroup;
import io.lockstep.agent.manifest.ManifestCodec;
import io.lockstep.proto.Manifest;
import io.lockstep.proto.ProcessRecord;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import picocli.CommandLine;

import java.io.PrintWriter;
import java.io.StringWriter;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.UUID;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

/** `agent capture` and `agent print` through picocli, on a real group cgroup with a real process. */
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
        assertThat(json.out()).contains("\"pid\": " + process.pid()).contains("\"hostId\": \"h1\"");
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
    void anUnknownGroupAndBadArgumentsGetClearErrors() {
        Run unknown = run("capture", "--group", "nosuch", "--cgroup-root", root, "--out", dir.resolve("x").toString());
        assertThat(unknown.exit()).isEqualTo(AgentMain.FAILED);
        assertThat(unknown.err()).contains("group nosuch does not exist");
        assertThat(run("capture", "--out", "x").exit()).isEqualTo(AgentMain.BAD_ARGUMENTS);
        assertThat(run("serve", "--help").out()).contains("--host-id").contains("--network-fs")
                .contains("--allowed-root=DIR").contains("everywhere except /proc and /sys");
        Run relativeRoot = run("serve", "--host-id", "x", "--zk", "127.0.0.1:1", "--state-dir", dir.resolve("state").toString(),
                "--allowed-root", "srv");
        assertThat(relativeRoot.exit()).isEqualTo(AgentMain.BAD_ARGUMENTS);
        assertThat(relativeRoot.err()).contains("allowed root 'srv' is not an absolute path");
    }
}
