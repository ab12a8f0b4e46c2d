package io.lockstep.coordinator.op;

import io.lockstep.zk.Decision;
import io.lockstep.zk.Decisions;
import io.lockstep.zk.Phase;
import io.lockstep.zk.ZkLayout;
import org.apache.curator.framework.CuratorFramework;

import java.time.Clock;
import java.time.Duration;
import java.time.Instant;
import java.util.Collection;
import java.util.List;
import java.util.Set;
import java.util.TreeSet;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.function.Consumer;

/**
 * Waits until every participant has its entry under ops/<op>/<phase>. One getChildren with a
 * watch per wake-up; the condition is re-checked after every wake, and the wait is bounded. A
 * decision ends the wait early (an agent's watchdog or freeze guard decided ABORT: the missing
 * entries will never come).
 */
public final class PhaseBarrier {
    private final CuratorFramework zk;
    private final ZkLayout layout;
    private final Clock clock;
    /** Something that may end a wait besides the entries and a decision (e.g. a participant found gone). */
    @FunctionalInterface
    public interface Check {
        /** Throws to end the wait. */
        void stillWaiting() throws OperationFailedException;
    }

    public PhaseBarrier(CuratorFramework zk, ZkLayout layout, Clock clock) {
        this.zk = zk;
        this.layout = layout;
        this.clock = clock;
    }

    /**
     * @return the participants still missing at the deadline; empty when the barrier is full
     */
    public Set<String> await(String group, String op, Phase phase, Collection<String> participants, Instant deadline)
            throws Exception {
        return await(group, op, phase, participants, deadline, host -> {
        }, () -> {
        }, null);
    }

    /**
     * As {@link #await(String, String, Phase, Collection, Instant)}, telling {@code arrived} each
     * entry seen (repeats included), and running {@code check} before every wait and at least
     * every {@code checkEvery} (null: only on changes).
     */
    public Set<String> await(String group, String op, Phase phase, Collection<String> participants, Instant deadline,
                             Consumer<String> arrived, Check check, Duration checkEvery) throws Exception {
        String path = layout.phase(group, op, phase);
        while (true) {
            CountDownLatch changed = new CountDownLatch(1);
            List<String> present = zk.getChildren().usingWatcher(
                    (org.apache.zookeeper.Watcher) event -> changed.countDown()).forPath(path);
            present.forEach(arrived);
            Set<String> missing = new TreeSet<>(participants);
            missing.removeAll(present);
            if (missing.isEmpty()) {
                return missing;
            }
            if (zk.checkExists().usingWatcher((org.apache.zookeeper.Watcher) event -> changed.countDown())
                    .forPath(layout.decision(group, op)) != null) {
                Decision standing = new Decisions(zk, layout).read(group, op).orElseThrow();
                throw new OperationFailedException(standing.isCommit() ? FailureReason.INTERNAL : FailureReason.ABORTED_ELSEWHERE,
                        missing.iterator().next(), op + " was decided " + standing + " while the " + phase.node()
                        + " barrier waited for " + missing);
            }
            // Until a watch fires: the check runs meanwhile, with the watches left as they are.
            while (true) {
                check.stillWaiting();
                long remaining = deadline.toEpochMilli() - clock.millis();
                if (remaining <= 0) {
                    return missing;
                }
                long slice = checkEvery == null ? remaining : Math.min(remaining, checkEvery.toMillis());
                if (changed.await(slice, TimeUnit.MILLISECONDS)) {
                    break;
                }
            }
        }
    }
}
