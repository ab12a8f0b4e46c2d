package io.lockstep.agent.cgroup;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStreamReader;
import java.nio.charset.StandardCharsets;
import java.nio.file.DirectoryStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;

/** The maximum frozen time holds without the JVM that froze the group. */
class FreezeGuardTest {
    @TempDir
    Path dir;

    /**
     * Short for a test (three of its cases wait it out, on each backend), long enough for a freeze on a loaded
     * 2-CPU host to finish well before it: the freeze itself takes milliseconds.
     */
    private static final Duration MAX_FROZEN = Duration.ofSeconds(2);

    private TestGroup test;

    private TestGroup on(Backend backend) throws IOException {
        test = TestGroup.on(backend, dir);
        return test;
    }

    @AfterEach
    void cleanUp() throws IOException {
        if (test != null) {
            test.close();
        }
    }

    @ParameterizedTest
    @EnumSource(Backend.class)
    void theGuardThawsAGroupNobodyThaws(Backend backend) throws IOException {
        TestGroup t = on(backend);
        List<Path> counters = t.startTree();
        FreezeGuard guard = t.arm(MAX_FROZEN);
        t.group.freezer().freeze(guard.capDeadline(Instant.now().plusSeconds(10)));
        assertThat(t.group.isFrozen()).isTrue();
        Map<Path, String> frozen = TestGroup.snapshot(counters);

        await("the guard thaws the group by itself").atMost(Duration.ofSeconds(30))
                .until(() -> !t.group.isFrozen());

        TestGroup.awaitAllMove(frozen);
        await("the guard exits after thawing").atMost(Duration.ofSeconds(10)).until(() -> !guard.isArmed());
        assertThat(guard.cancel()).as("cancel after the guard fired reports the freeze lost").isFalse();
    }

    @ParameterizedTest
    @EnumSource(Backend.class)
    void cancelStopsTheGuardAndEverythingItStarted(Backend backend) throws IOException {
        TestGroup t = on(backend);
        t.startTree();
        FreezeGuard guard = t.arm(MAX_FROZEN);
        t.group.freezer().freeze(guard.capDeadline(Instant.now().plusSeconds(10)));
        long session = guard.pid();
        assertThat(guard.isArmed()).isTrue();
        assertThat(sessionMembers(session)).as("guard shell and its sleep").isNotEmpty();

        assertThat(guard.cancel()).isTrue();
        assertThat(guard.cancel()).as("cancel is idempotent").isTrue();

        // Nothing of the guard is left that could thaw the group later.
        assertThat(guard.isArmed()).isFalse();
        assertThat(Path.of("/proc", Long.toString(session))).doesNotExist();
        assertThat(sessionMembers(session)).as("processes left in the guard's session").isEmpty();
        assertThat(t.group.isFrozen()).isTrue();
        t.group.freezer().thaw();
    }

    /** The agent is SIGKILLed with its group frozen: the guard it armed still thaws the group. */
    @ParameterizedTest
    @EnumSource(Backend.class)
    void theGuardOutlivesTheJvmThatArmedIt(Backend backend) throws Exception {
        TestGroup t = on(backend);
        List<Path> counters = t.startTree();
        List<String> command = new ArrayList<>(List.of(Path.of(System.getProperty("java.home"), "bin", "java").toString(),
                "-XX:TieredStopAtLevel=1", "-cp", System.getProperty("lockstep.testClasspath") + java.io.File.pathSeparator + System.getProperty("java.class.path"),
                FreezeAndDie.class.getName(), t.layout.root(), backend.name(), t.group.name(), Long.toString(MAX_FROZEN.toMillis())));
        if (t.group.entryCommand().isEmpty()) {
            // A pid set lives in the agent's memory: the new "agent" learns it as it would from its state.
            command.add(Integer.toString(t.treePid));
        }
        Process agent = new ProcessBuilder(command).redirectErrorStream(true).start();
        try (BufferedReader out = new BufferedReader(new InputStreamReader(agent.getInputStream(), StandardCharsets.UTF_8))) {
            String line;
            StringBuilder seen = new StringBuilder();
            while ((line = out.readLine()) != null && !line.equals("frozen")) {
                seen.append(line).append('\n');
            }
            assertThat(line).as("the dying agent's output: %s", seen).isEqualTo("frozen");
        }
        agent.destroyForcibly();
        agent.waitFor();
        Map<Path, String> frozen = TestGroup.snapshot(counters);

        await("the guard of the killed agent thaws the group").atMost(Duration.ofSeconds(30))
                .until(() -> !t.group.isFrozen());

        TestGroup.awaitAllMove(frozen);
    }

    /** Live (not zombie) pids whose session id (field 6 of /proc/&lt;pid&gt;/stat) is {@code session}. */
    private static List<Integer> sessionMembers(long session) throws IOException {
        List<Integer> members = new ArrayList<>();
        try (DirectoryStream<Path> procs = Files.newDirectoryStream(Path.of("/proc"), p -> p.getFileName().toString().matches("\\d+"))) {
            for (Path proc : procs) {
                int pid = Integer.parseInt(proc.getFileName().toString());
                Optional<ProcFs.Stat> stat = ProcFs.stat(pid);
                if (stat.isPresent() && stat.get().session() == session && !stat.get().dead()) {
                    members.add(pid);
                }
            }
        }
        return members;
    }
}
