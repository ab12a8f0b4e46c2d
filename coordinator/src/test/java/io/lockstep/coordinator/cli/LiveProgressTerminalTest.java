package io.lockstep.coordinator.cli;

import io.lockstep.agent.server.ManagedGroup;
import io.lockstep.coordinator.testing.Invariants;
import io.lockstep.coordinator.testing.LocalCluster;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.regex.Pattern;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

/**
 * {@code coordinator checkpoint} as a separate process under a real pseudo-terminal (tmux), during a
 * real checkpoint of three agents: the live display shows each phase's hosts as they finish and
 * redraws in place; with pipes instead of a terminal the same command prints plain lines.
 */
class LiveProgressTerminalTest {
    private static final String GROUP = "app";
    private static final List<String> PHASES = List.of("freeze", "capture", "thaw", "store", "commit");

    private LocalCluster cluster;
    private String tmuxSocket;

    @BeforeEach
    void startApplication() throws Exception {
        cluster = LocalCluster.start("h1", "h2", "h3");
        for (String host : cluster.hosts()) {
            int pid = cluster.run(host, GROUP, LocalCluster.worker("ready", "sleep"));
            cluster.awaitReady(host, GROUP, pid);
        }
        tmuxSocket = "lockstep-" + cluster.id();
    }

    @AfterEach
    void stop() throws Exception {
        try {
            if (tmuxSocket != null) {
                new ProcessBuilder("tmux", "-L", tmuxSocket, "kill-server").redirectErrorStream(true)
                        .redirectOutput(ProcessBuilder.Redirect.DISCARD).start().waitFor(30, TimeUnit.SECONDS);
            }
        } finally {
            if (cluster != null) {
                cluster.close();
            }
        }
    }

    /** The coordinator's command line in a java @-file: the test class path is too long for tmux's command. */
    private List<String> checkpointCommand() throws IOException {
        Path argFile = cluster.dir().resolve("coordinator.args");
        // The shipped logging configuration, as bin/coordinator runs it: the test class path also holds
        // logback-test.xml, whose INFO lines on stdout would land between the redraws.
        Path logback;
        try {
            logback = Path.of(CoordinatorMain.class.getProtectionDomain().getCodeSource().getLocation().toURI())
                    .resolve("logback.xml");
        } catch (java.net.URISyntaxException e) {
            throw new IOException(e);
        }
        Files.writeString(argFile, "-XX:TieredStopAtLevel=1\n-Dlogback.configurationFile=\"" + logback + "\"\n-cp \""
                + System.getProperty("java.class.path") + "\"\n" + CoordinatorMain.class.getName() + "\n");
        return List.of(LocalCluster.javaBinary(), "@" + argFile, "checkpoint", "--group", GROUP, "--zk", cluster.zkConnect(),
                "--zk-root", cluster.zkRoot(), "--store", cluster.dir().resolve("store").toString(),
                "--freeze-timeout", "120s", "--timeout", "180s");
    }

    @Test
    void terminalShowsHostsPerPhaseLiveAndRedrawsInPlace() throws Exception {
        Path script = cluster.dir().resolve("checkpoint-on-a-terminal.sh");
        Files.writeString(script, "export LANG=C.UTF-8\n" + String.join(" ", checkpointCommand().stream()
                .map(arg -> "'" + arg + "'").toList()) + "\necho \"EXIT=$?\"\nsleep 300\n");
        // Holding h3's group makes its agent's first call of the checkpoint (arm and freeze)
        // wait, so the display must show the other two hosts frozen and h3 outstanding.
        ManagedGroup h3 = cluster.agent("h3").groups().find(GROUP).orElseThrow();
        String during;
        synchronized (h3) {
            tmux("new-session", "-d", "-s", "ckpt", "-x", "120", "-y", "40", "bash " + script);
            await("the terminal shows 2 of 3 hosts frozen").atMost(Duration.ofSeconds(90))
                    .until(() -> screen().contains("2/3 hosts frozen"));
            during = screen();
        }
        assertThat(lineStartingWith(during, "freeze")).contains("freeze").contains("2/3 hosts frozen");
        assertThat(during).containsPattern("(?m)^ +h1  \\d+ tasks frozen in ").containsPattern("(?m)^ +h2  \\d+ tasks frozen in ")
                .doesNotContainPattern("(?m)^ +h3 ");

        await("the checkpoint command exits").atMost(Duration.ofSeconds(120)).until(() -> screen().contains("EXIT="));
        String after = screen();
        assertThat(after).as(after).contains("EXIT=0").contains("committed");
        for (String phase : PHASES) {
            // Redrawn in place: exactly one line per phase is left, the finished one.
            assertThat(Pattern.compile("(?m)^\\S+ +" + phase + " ").matcher(after).results().count())
                    .as("lines of phase %s on\n%s", phase, after).isEqualTo(1);
        }
        for (String phase : List.of("freeze", "capture", "thaw")) {
            assertThat(lineStartingWith(after, phase)).contains("3/3 hosts");
        }
        assertThat(after).doesNotContainPattern("(?m)^ +h[123]  ");
        Invariants.assertAll(cluster);
    }

    @Test
    void withoutATerminalTheSameCommandPrintsPlainLines() throws Exception {
        Path out = cluster.dir().resolve("checkpoint.out");
        Path err = cluster.dir().resolve("checkpoint.err");
        Process process = new ProcessBuilder(checkpointCommand()).redirectOutput(out.toFile()).redirectError(err.toFile())
                .redirectInput(ProcessBuilder.Redirect.PIPE).start();
        process.getOutputStream().close();
        assertThat(process.waitFor(180, TimeUnit.SECONDS)).as("the checkpoint command exits").isTrue();
        String stdout = Files.readString(out, StandardCharsets.UTF_8);
        String stderr = Files.readString(err, StandardCharsets.UTF_8);
        assertThat(process.exitValue()).as(stderr).isZero();
        assertThat(stdout + stderr).doesNotContain("\u001B");
        for (String phase : List.of("freeze", "capture", "thaw")) {
            assertThat(stderr).contains(phase + ": started on 3 hosts\n");
            for (String host : cluster.hosts()) {
                assertThat(stderr).containsPattern("(?m)^" + phase + ": " + host + " \\([123]/3\\): ");
            }
            assertThat(stderr).containsPattern("(?m)^" + phase + ": done in ");
        }
        assertThat(stdout).contains("committed");
        Invariants.assertAll(cluster);
    }

    private void tmux(String... args) throws Exception {
        List<String> command = new ArrayList<>(List.of("tmux", "-L", tmuxSocket, "-f", "/dev/null", "-u"));
        command.addAll(List.of(args));
        Process process = new ProcessBuilder(command).redirectErrorStream(true).start();
        String output = new String(process.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        if (!process.waitFor(30, TimeUnit.SECONDS) || process.exitValue() != 0) {
            throw new AssertionError("tmux " + String.join(" ", args) + " failed: " + output);
        }
    }

    private String screen() throws Exception {
        Process process = new ProcessBuilder("tmux", "-L", tmuxSocket, "capture-pane", "-p", "-t", "ckpt")
                .redirectErrorStream(true).start();
        String text = new String(process.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        if (!process.waitFor(30, TimeUnit.SECONDS) || process.exitValue() != 0) {
            throw new AssertionError("tmux capture-pane failed: " + text);
        }
        return text;
    }

    private static String lineStartingWith(String screen, String phase) {
        return screen.lines().filter(line -> line.matches("\\S+ +" + phase + " .*")).findFirst()
                .orElseThrow(() -> new AssertionError("no line for phase " + phase + " on\n" + screen));
    }
}
