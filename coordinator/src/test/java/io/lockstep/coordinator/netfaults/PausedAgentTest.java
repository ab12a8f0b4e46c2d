package io.lockstep.coordinator.netfaults;

import io.lockstep.coordinator.testing.Invariants;
import io.lockstep.coordinator.testing.LocalCluster;
import io.lockstep.coordinator.testing.NetnsCluster;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

import java.nio.file.Path;
import java.time.Duration;
import java.util.List;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

/**
 * An agent JVM stopped (SIGSTOP) after it was asked to freeze, for longer than its session
 * timeout, while the coordinator aborts and a newer operation commits without it; then continued.
 * The stale operation must get nothing from it: no freeze, no barrier entry, no acceptance of the
 * old epoch. Its group ends thawed and it takes part in the next checkpoint.
 */
class PausedAgentTest {
    private static NetnsCluster cluster;

    @BeforeAll
    static void startCluster() throws Exception {
        cluster = NetnsCluster.start("h1", "h2");
    }

    /** A failed test must not leave h2 stopped for the next one. */
    @AfterEach
    void continueAgent() throws Exception {
        cluster.signalAgent("h2", "CONT");
        await("h2 registers again").atMost(Duration.ofSeconds(60)).until(() -> cluster.registered("h2"));
    }

    @AfterAll
    static void stopCluster() throws Exception {
        if (cluster != null) {
            cluster.close();
        }
    }

    /**
     * started:freeze — the freeze requests (one call per host: arm and freeze) are about to go
     * out: h2 stops before its request arrives. done:freeze:h2 — h2 froze and answered: it stops
     * frozen, with the all-frozen signal about to come.
     */
    private static List<String> staleOpLines(String group, String staleOp) throws Exception {
        return cluster.agentLogText("h2").lines().filter(l -> l.contains("group " + group + " op " + staleOp + " "))
                .toList();
    }

    @ParameterizedTest(name = "stopped at {0}")
    @ValueSource(strings = {"started:freeze", "done:freeze:h2"})
    void anAgentPausedPastItsSessionDoesNotActOnItsStaleOperation(String stopAt) throws Exception {
        boolean stoppedFrozen = stopAt.startsWith("done:");
        String group = stoppedFrozen ? "stopped-frozen" : "stopped-armed";
        for (String host : List.of("h1", "h2")) {
            Path counter = cluster.dir().resolve("counter-" + host + "-" + group);
            cluster.runReady(host, group, LocalCluster.worker("ready", "tick", counter.toString()));
        }
        String stale = cluster.startOperation("checkpoint", group, stopAt);
        cluster.awaitPaused(stopAt);
        cluster.signalAgent("h2", "STOP");
        cluster.resume();

        await("h2's session expires while it is stopped").atMost(Duration.ofSeconds(60))
                .until(() -> !cluster.registered("h2"));
        // Only its guard could thaw it now, at the maximum frozen time (20 s after arming).
        boolean frozenWhileStopped = cluster.frozen("h2", group);
        assertThat(cluster.awaitOutcome(stale)).as("the checkpoint with a stopped host").startsWith("FAILED ");
        String staleOp = cluster.call("ops", group);
        if (stoppedFrozen) {
            // The hosts go through the window on ZooKeeper signals, without the paused coordinator: h2 may
            // have captured and thawed before the STOP landed (its log, frozen with it, says so).
            boolean thawedBeforeTheStop = staleOpLines(group, staleOp).stream().anyMatch(l -> l.contains(": thawed ("));
            assertThat(frozenWhileStopped || thawedBeforeTheStop)
                    .as("h2's group while h2 is stopped: frozen, unless h2 thawed before the STOP").isTrue();
        } else {
            assertThat(frozenWhileStopped).as("h2's group while h2 is stopped before its freeze").isFalse();
        }
        long staleEpoch = Invariants.epochOf(staleOp);
        assertThat(cluster.call("decision", group, staleOp)).startsWith("ABORT");
        assertThat(cluster.frozen("h1", group)).as("h1 thawed on the ABORT").isFalse();

        // h2 is still a member (its processes are there): a checkpoint without its agent would be a
        // partial cut, so the newer checkpoint is refused naming h2 until h2's agent is back.
        String refused = cluster.awaitOutcome(cluster.startOperation("checkpoint", group, "none"));
        assertThat(refused).as("a checkpoint while a member's agent is stopped").startsWith("FAILED AGENT_UNAVAILABLE h2 ");

        // What h2 did in the stale op before it was stopped: with done:freeze:h2 the hosts may have gone on
        // through the window by themselves (the last closes each barrier) before the STOP landed.
        long staleLinesBeforeTheStop = staleOpLines(group, staleOp).size();
        cluster.signalAgent("h2", "CONT");
        if (stoppedFrozen) {
            await("h2 ends its part in the stale op").atMost(Duration.ofSeconds(60))
                    .until(() -> cluster.agentLogText("h2").lines()
                            .anyMatch(l -> l.contains("group " + group + " op " + staleOp + " ") && l.contains(": thawed (")));
        } else {
            // The freeze is one call per host: h2, stopped before its Freeze arrived, has no part in the stale op
            // to end; a Freeze that reaches it late is refused (the op is decided, its owner gone).
            await("h2 registers again").atMost(Duration.ofSeconds(60)).until(() -> cluster.registered("h2"));
        }
        List<String> staleLines = staleOpLines(group, staleOp);
        assertThat(staleLines.subList((int) staleLinesBeforeTheStop, staleLines.size()))
                .as("h2's log of the stale op once it resumed").noneMatch(l -> l.contains(" host h2: captured "));
        if (!stoppedFrozen) {
            assertThat(staleLines).as("h2's log of the stale op").noneMatch(l -> l.contains(": frozen "));
        }
        assertThat(cluster.frozen("h2", group)).as("h2's group once h2 ended the stale op").isFalse();
        await("no barrier entry under the stale op").atMost(Duration.ofSeconds(30))
                .until(() -> cluster.call("entries", group, staleOp), org.hamcrest.Matchers.emptyString());
        // A late request of the stale coordinator: fenced by the newer epoch in ZooKeeper.
        NetnsCluster.Reply late = cluster.request("freeze", "h2", group, staleOp, Long.toString(staleEpoch));
        assertThat(late.ok()).isFalse();
        // No newer op was opened (the newer checkpoint was refused before opening): the stale op is
        // still the newest, and decided, so it never starts anything again.
        assertThat(late.payload()).contains("op " + staleOp + " of group " + group + " is already decided");
        assertThat(cluster.frozen("h2", group)).isFalse();

        await("h2 registers again").atMost(Duration.ofSeconds(60)).until(() -> cluster.registered("h2"));
        await("h2 is a member of " + group + " again").atMost(Duration.ofSeconds(60))
                .until(() -> cluster.call("member", group, "h2").equals("yes"));
        String next = cluster.checkpointCommits(group);
        assertThat(next.split(" ")[2]).isEqualTo("h1,h2");
        assertThat(cluster.call("checkpoints", group).split(" ")).containsExactly(next.split(" ")[0]);
        cluster.assertInvariants(group);
    }
}
