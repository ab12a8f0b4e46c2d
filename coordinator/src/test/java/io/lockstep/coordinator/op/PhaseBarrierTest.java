package io.lockstep.coordinator.op;

import io.lockstep.zk.testing.ZkTestRoot;
import io.lockstep.zk.Phase;
import io.lockstep.zk.ZkLayout;
import org.apache.curator.framework.CuratorFramework;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;

import java.time.Clock;
import java.time.Duration;
import java.time.Instant;
import java.util.List;
import java.util.Set;
import java.util.concurrent.CompletableFuture;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * Rule: a phase barrier is full only when every participant has its entry; the wait re-checks
 * after every wake and is bounded by its deadline, then names who is missing.
 */
class PhaseBarrierTest {
    @RegisterExtension
    final ZkTestRoot root = new ZkTestRoot();
    private CuratorFramework zk;
    private ZkLayout layout;
    private PhaseBarrier barrier;

    @BeforeEach
    void createTheFrozenBarrier() throws Exception {
        zk = root.zk();
        layout = root.layout();
        barrier = new PhaseBarrier(zk, layout, Clock.systemUTC());
        zk.create().creatingParentsIfNeeded().forPath(layout.phase("app", "ckpt-1", Phase.FROZEN));
    }

    private void enter(String host) throws Exception {
        zk.create().forPath(layout.phaseEntry("app", "ckpt-1", Phase.FROZEN, host));
    }

    @Test
    void theBarrierIsFullOnceEveryParticipantEntered() throws Exception {
        enter("h1");
        CompletableFuture<Set<String>> waiting = CompletableFuture.supplyAsync(() -> {
            try {
                return barrier.await("app", "ckpt-1", Phase.FROZEN, List.of("h1", "h2", "h3"),
                        Instant.now().plus(Duration.ofSeconds(30)));
            } catch (Exception e) {
                throw new IllegalStateException(e);
            }
        });
        enter("h2");
        assertThat(waiting).as("two of three entered: still waiting").isNotDone();
        enter("h3");

        assertThat(waiting.get()).as("missing participants").isEmpty();
    }

    @Test
    void anEntryOfAHostThatIsNoParticipantDoesNotFillTheBarrier() throws Exception {
        enter("h1");
        enter("stranger");

        Set<String> missing = barrier.await("app", "ckpt-1", Phase.FROZEN, List.of("h1", "h2"),
                Instant.now().plus(Duration.ofMillis(300)));

        assertThat(missing).containsExactly("h2");
    }

    @Test
    void theDeadlineEndsTheWaitNamingEveryMissingHostInOrder() throws Exception {
        Set<String> missing = barrier.await("app", "ckpt-1", Phase.FROZEN, List.of("h3", "h1", "h2"),
                Instant.now().plus(Duration.ofMillis(200)));

        assertThat(missing).containsExactly("h1", "h2", "h3");
    }
}
