package io.lockstep.agent.proc;

import org.junit.jupiter.api.Test;

import java.io.BufferedReader;
import java.io.InputStreamReader;
import java.nio.charset.StandardCharsets;
import java.time.Duration;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

/**
 * A killed stub stays a zombie until its parent reaps it, and Java calls a zombie alive: the
 * confirm round of a restore counted such a stub as alive and committed (soak seed 20261216).
 */
class ProcessStateTest {
    @Test
    void aZombieHasExitedThoughJavaStillCallsItAlive() throws Exception {
        // The shell's child exits at once; the shell then becomes a sleep that never waits for it.
        Process parent = new ProcessBuilder("sh", "-c", "sleep 0 & echo $!; exec sleep 30").start();
        try {
            long child;
            try (BufferedReader out = new BufferedReader(new InputStreamReader(parent.getInputStream(), StandardCharsets.UTF_8))) {
                child = Long.parseLong(out.readLine().trim());
                await("the unreaped child is a zombie").atMost(Duration.ofSeconds(10))
                        .until(() -> ProcessState.exited(child));
            }
            assertThat(ProcessHandle.of(child).map(ProcessHandle::isAlive)).as("what Java says of the zombie")
                    .contains(true);
            assertThat(ProcessState.exited(parent.pid())).as("the running parent").isFalse();
        } finally {
            parent.destroyForcibly().waitFor();
        }
        assertThat(ProcessState.exited(parent.pid())).as("a reaped process").isTrue();
    }
}
