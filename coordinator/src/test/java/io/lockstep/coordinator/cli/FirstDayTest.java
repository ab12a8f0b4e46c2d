package io.lockstep.coordinator.cli;

import io.lockstep.agent.cli.AgentMain;
import io.lockstep.coordinator.testing.LocalCluster;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import picocli.CommandLine;

import java.io.PrintWriter;
import java.io.StringWriter;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

/**
 * An operator's first day, as the README tells it, on one machine: three agents (each its own
 * JVM), programs started with `agent run`, and every coordinator command with the usual mistakes:
 * a typo, an unknown group, a group whose processes died, a restore while the group still runs.
 */
class FirstDayTest {
    private LocalCluster cluster;

    @AfterEach
    void tearDown() throws Exception {
        if (cluster != null) {
            cluster.close();
        }
    }

    private CliRun coordinator(String... args) {
        List<String> all = new ArrayList<>(List.of(args));
        all.addAll(List.of("--zk", cluster.zkConnect(), "--zk-root", cluster.zkRoot(), "--store",
                cluster.dir().resolve("store").toString()));
        return CliRun.of(all.toArray(String[]::new));
    }

    /** `agent run` against the agent of {@code host}; returns the pid it printed. */
    private int agentRun(String host, String group, List<String> command) throws Exception {
        String endpoint = cluster.coordinator().directory().host(host).orElseThrow().getEndpoint();
        List<String> args = new ArrayList<>(List.of("run", "--agent", endpoint, "--group", group, "--cwd",
                cluster.dir().toString(), "--"));
        args.addAll(command);
        StringWriter out = new StringWriter();
        StringWriter err = new StringWriter();
        CommandLine agent = AgentMain.commandLine();
        agent.setOut(new PrintWriter(out, true));
        agent.setErr(new PrintWriter(err, true));
        int exit = agent.execute(args.toArray(String[]::new));
        assertThat(exit).as("agent run: %s", err).isZero();
        int pid = Integer.parseInt(out.toString().strip());
        cluster.awaitReady(host, group, pid);
        return pid;
    }

    @Test
    void theReadmesStepsWithTheUsualMistakes() throws Exception {
        cluster = LocalCluster.start();
        for (String host : List.of("node3", "node1", "node2")) {
            cluster.startAgentProcess(host);
        }
        Path data = Files.createDirectories(cluster.dir().resolve("export")).resolve("data");
        int holder = agentRun("node1", "app", LocalCluster.worker("fd", "500", data.toString(), "lock", "posix", "write",
                "500", "0", "100", "ready", "sleep"));
        agentRun("node2", "app", LocalCluster.worker("ready", "sleep"));
        agentRun("node3", "app2", LocalCluster.worker("ready", "sleep"));

        CliRun status = coordinator("status");
        assertThat(status.out()).as(status.toString()).containsSubsequence("node1", "node2", "node3")
                .contains("app  members: node1 (live), node2 (live)", "app2  members: node3 (live)");

        CliRun typo = coordinator("checkpoint", "--gruop", "app2");
        assertThat(typo.exit()).isEqualTo(ExitCode.USAGE.code());
        assertThat(typo.err()).startsWith("lockstep: unknown option --gruop (did you mean --group?)");

        CliRun unknown = coordinator("checkpoint", "--group", "ap2");
        assertThat(unknown.exit()).isEqualTo(ExitCode.NO_AGENTS.code());
        assertThat(unknown.err()).contains("no group ap2; known: app, app2");

        CliRun app = coordinator("checkpoint", "--group", "app");
        assertThat(app.exit()).as(app.toString()).isZero();
        assertThat(app.out()).contains("processes  2").doesNotContain("µs");
        CliRun app2 = coordinator("checkpoint", "--group", "app2", "--json");
        assertThat(app2.exit()).as(app2.toString()).isZero();
        String app2Checkpoint = app2.json().getFieldsOrThrow("checkpointId").getStringValue();

        // Every process of app2 dies: its next checkpoint would hold nothing.
        cluster.cgroups("node3").forGroup("app2").killAll(Duration.ofSeconds(10));
        CliRun empty = coordinator("checkpoint", "--group", "app2");
        assertThat(empty.exit()).as(empty.toString()).isEqualTo(ExitCode.NO_AGENTS.code());
        // Its member leaves the group once node3's agent sees the last process exit: before that the
        // checkpoint names the member whose processes are gone, after it the group has no member left.
        assertThat(empty.err()).containsPattern("its processes are gone|has no processes on any live agent")
                .contains("the latest checkpoint is " + app2Checkpoint);
        List<String> listed = coordinator("list", "--group", "app2").out().lines().toList();
        assertThat(listed.get(1)).startsWith(app2Checkpoint + " ").endsWith("(latest)");
        String epoch = listed.get(1).split(" +")[1];
        int epochEnd = listed.get(1).indexOf(epoch, app2Checkpoint.length()) + epoch.length();
        assertThat(listed.get(0).indexOf("EPOCH") + "EPOCH".length()).as("the header's EPOCH over the epochs " + listed)
                .isEqualTo(epochEnd);
        CliRun back = coordinator("restore", "--group", "app2", "--allow-root");
        assertThat(back.exit()).as(back.toString()).isZero();
        assertThat(back.out()).contains("host node3: 1 processes");

        // app still runs: a restore would start it twice.
        CliRun twice = coordinator("restore", "--group", "app", "--allow-root");
        assertThat(twice.exit()).as(twice.toString()).isEqualTo(ExitCode.GROUP_RUNNING.code());
        assertThat(twice.err()).contains("group app is still running", "host node1 pids " + holder, "--replace");
        CliRun replaced = coordinator("restore", "--group", "app", "--allow-root", "--replace", "--replace-grace", "5s");
        assertThat(replaced.exit()).as(replaced.toString()).isZero();
        assertThat(replaced.out()).contains("stopped first (--replace): host node1 pids " + holder + " (SIGTERM)");
        await("the replaced holder is gone").atMost(Duration.ofSeconds(10)).until(() -> ProcessHandle.of(holder).isEmpty());
    }
}
