package io.lockstep.agent.server;

import io.lockstep.proto.OpContext;
import io.lockstep.proto.OpRecord;
import io.lockstep.zk.ZkJson;
import io.lockstep.zk.ZkLayout;
import org.apache.curator.framework.CuratorFramework;
import org.apache.zookeeper.CreateMode;
import org.apache.zookeeper.KeeperException;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;

/**
 * The hosts of a committed restore telling each other that their first release round is over
 * ({@link ZkLayout#handedOver}): a host's held-back waiters wait for a lock a process of another
 * host held, and may run only once that process holds it again. Without the coordinator's second
 * release (it failed, or the coordinator died), an agent releases its held-back waiters itself, but
 * only when every participant made its marker — a timer alone released them while a holder's host
 * was still coming back (its agent killed right after the COMMIT and restarted later than the
 * timer), and the waiter took the holder's lock (seed 20261216's 50th schedule). A host that never
 * comes back: its prepared stubs give up after {@link OrphanStubs#ORPHAN_WAIT} and the kernel drops
 * their locks, so the waiters then go anyway, logged with the hosts that never marked.
 */
final class HandOverMarks {
    private static final Logger LOG = LoggerFactory.getLogger(HandOverMarks.class);

    private final CuratorFramework zk;
    private final ZkLayout layout;
    private final String hostId;
    private final ScheduledExecutorService timer;
    private final Duration recheck;

    HandOverMarks(CuratorFramework zk, ZkLayout layout, String hostId, ScheduledExecutorService timer, Duration recheck) {
        this.zk = zk;
        this.layout = layout;
        this.hostId = hostId;
        this.timer = timer;
        this.recheck = recheck;
    }

    /**
     * This host's first release round of the op is over. Nothing for an op already retired. While
     * ZooKeeper cannot be written (an outage, a lost session) it tries again every recheck, until
     * {@link OrphanStubs#ORPHAN_WAIT} passed: the other hosts' waiters wait for this marker.
     */
    void mark(OpContext op) {
        mark(op, Instant.now().plus(OrphanStubs.ORPHAN_WAIT));
    }

    private void mark(OpContext op, Instant giveUpAt) {
        try {
            zk.create().withMode(CreateMode.PERSISTENT).forPath(layout.handedOver(op.getGroup(), op.getOpId(), hostId));
        } catch (KeeperException.NodeExistsException | KeeperException.NoNodeException doneOrRetired) {
            // marked before (a second round, an adopting agent), or the op is gone with its waiters
        } catch (Exception e) {
            if (Instant.now().isBefore(giveUpAt)) {
                LOG.warn("group {} op {} host {}: cannot record yet that its release round is over ({}); trying again",
                        op.getGroup(), op.getOpId(), hostId, e.toString());
                timer.schedule(() -> mark(op, giveUpAt), recheck.toMillis(), TimeUnit.MILLISECONDS);
            } else {
                LOG.warn("group {} op {} host {}: cannot record that its release round is over ({}): the held-back "
                        + "waiters of other hosts go at their stubs' give-up", op.getGroup(), op.getOpId(), hostId, e.toString());
            }
        }
    }

    /**
     * Runs {@code release} once every participant of the op marked, looking again every recheck;
     * at {@code giveUpAt} runs it anyway. An op already retired counts as marked by all.
     */
    void releaseWhenAllMarked(OpContext op, Instant giveUpAt, Runnable release) {
        List<String> missing;
        try {
            missing = unmarked(op);
        } catch (Exception e) {
            LOG.warn("group {} op {} host {}: cannot read which hosts finished their release round ({}); looking again",
                    op.getGroup(), op.getOpId(), hostId, e.toString());
            missing = List.of("(unknown)");
        }
        if (missing.isEmpty()) {
            release.run();
        } else if (!Instant.now().isBefore(giveUpAt)) {
            LOG.warn("group {} op {} host {}: hosts {} never finished their release round; their stubs have given up "
                    + "by now and the kernel dropped their locks: releasing the held-back waiters", op.getGroup(),
                    op.getOpId(), hostId, missing);
            release.run();
        } else {
            LOG.info("group {} op {} host {}: held-back waiters wait for hosts {} to finish their release round",
                    op.getGroup(), op.getOpId(), hostId, missing);
            timer.schedule(() -> releaseWhenAllMarked(op, giveUpAt, release), recheck.toMillis(), TimeUnit.MILLISECONDS);
        }
    }

    private List<String> unmarked(OpContext op) throws Exception {
        String path = layout.op(op.getGroup(), op.getOpId());
        byte[] data;
        try {
            data = zk.getData().forPath(path);
        } catch (KeeperException.NoNodeException retired) {
            return List.of();
        }
        List<String> missing = new ArrayList<>();
        for (String participant : ZkJson.parse(data, OpRecord.getDefaultInstance(), path).getParticipantsList()) {
            if (zk.checkExists().forPath(layout.handedOver(op.getGroup(), op.getOpId(), participant)) == null) {
                missing.add(participant);
            }
        }
        return missing;
    }
}
