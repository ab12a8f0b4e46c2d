package io.lockstep.agent.server;

import io.lockstep.files.PrivateFiles;
import io.lockstep.proto.HandOver;
import io.lockstep.proto.OpContext;
import io.lockstep.proto.OpRecord;
import io.lockstep.proto.PendingHandOver;
import io.lockstep.proto.ReleaseRoundRecord;
import io.lockstep.zk.ZkJson;
import io.lockstep.zk.ZkLayout;
import org.apache.curator.framework.CuratorFramework;
import org.apache.zookeeper.CreateMode;
import org.apache.zookeeper.KeeperException;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;
import java.util.concurrent.CompletableFuture;
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
 * <p>
 * A host's round is recorded on disk until its marker is made ({@link ReleaseRoundRecord}): an
 * agent killed after its programs were released but before the marker (its hand-over checks still
 * waiting) left no stub to adopt, so its restarted successor never marked, and the other hosts'
 * waiters waited for the 5-minute give-up (soak seed 20261231, 2nd schedule). The successor now
 * finishes the recorded checks and marks ({@link #resume}).
 */
final class HandOverMarks {
    private static final Logger LOG = LoggerFactory.getLogger(HandOverMarks.class);

    private static final String RECORD = "release-round";

    private final CuratorFramework zk;
    private final ZkLayout layout;
    private final String hostId;
    private final Path stateDir;
    private final ScheduledExecutorService timer;
    private final Duration recheck;

    HandOverMarks(AgentConfig config, CuratorFramework zk, ZkLayout layout, ScheduledExecutorService timer) {
        this.zk = zk;
        this.layout = layout;
        this.hostId = config.hostId();
        this.stateDir = config.stateDir();
        this.timer = timer;
        this.recheck = config.sessionTimeout();
    }

    /** A committed release round starts: recorded before any stub is released. */
    void roundStarted(OpContext op, Duration handOverTimeout) {
        writeRecord(ReleaseRoundRecord.newBuilder().setCtx(op)
                .setHandOverDeadlineUnixMs(Instant.now().plus(handOverTimeout).toEpochMilli()).build());
    }

    /** Every stub of the round was released; these locks are to be taken again by {@code deadline}. */
    void roundReleased(OpContext op, Instant deadline, List<HandOverCheck.Pending> handOvers) {
        ReleaseRoundRecord.Builder record = ReleaseRoundRecord.newBuilder().setCtx(op)
                .setHandOverDeadlineUnixMs(deadline.toEpochMilli()).setReleased(true);
        handOvers.forEach(p -> record.addHandOvers(PendingHandOver.newBuilder().setReport(p.report().build())
                .setDev(p.dev()).setInode(p.inode())));
        writeRecord(record.build());
    }

    /** The round a dead predecessor recorded in {@code opDir}, if any. */
    static Optional<ReleaseRoundRecord> recorded(Path opDir) {
        Path file = opDir.resolve(RECORD);
        try {
            return Files.exists(file) ? Optional.of(ReleaseRoundRecord.parseFrom(Files.readAllBytes(file))) : Optional.empty();
        } catch (IOException e) {
            LOG.warn("cannot read {}: {}; its op's marker is left to the other hosts' give-up", file, e.toString());
            return Optional.empty();
        }
    }

    /**
     * Finishes a round a dead predecessor recorded: waits for the recorded hand-overs up to their
     * deadline, or, when the predecessor died inside the round (which programs it released is not
     * known), until that deadline and at least a session timeout from now (as adopted stubs get),
     * then marks.
     */
    void resume(ReleaseRoundRecord round) {
        OpContext op = round.getCtx();
        Instant deadline = Instant.ofEpochMilli(round.getHandOverDeadlineUnixMs());
        LOG.warn("group {} op {} host {}: the previous agent died before recording that its release round was over; "
                + "finishing it ({} hand-overs to see, until {})", op.getGroup(), op.getOpId(), hostId,
                round.getReleased() ? round.getHandOversCount() : "unknown", deadline);
        if (round.getReleased()) {
            List<HandOverCheck.Pending> pending = new ArrayList<>();
            for (PendingHandOver p : round.getHandOversList()) {
                pending.add(new HandOverCheck.Pending(p.getReport().toBuilder(), p.getDev(), p.getInode()));
            }
            Duration left = Duration.between(Instant.now(), deadline);
            CompletableFuture.runAsync(() -> {
                List<HandOver> outcome = HandOverCheck.await(pending, left.isNegative() ? Duration.ZERO : left);
                outcome.stream().filter(h -> !h.getTakenAgain()).forEach(h -> LOG.warn("group {} op {} host {}: "
                        + "hand-over timeout: lock on {} of pid {} not taken again; its waiters are released anyway",
                        op.getGroup(), op.getOpId(), hostId, h.getPath(), h.getNewPid()));
                mark(op);
            });
        } else {
            Instant at = deadline.isAfter(Instant.now().plus(recheck)) ? deadline : Instant.now().plus(recheck);
            timer.schedule(() -> mark(op), Math.max(0, Duration.between(Instant.now(), at).toMillis()),
                    TimeUnit.MILLISECONDS);
        }
    }

    private void writeRecord(ReleaseRoundRecord record) {
        OpContext op = record.getCtx();
        try {
            Path dir = PrivateFiles.createDirectories(OrphanStubs.directory(stateDir, op.getGroup(), op.getOpId()));
            PrivateFiles.writeAtomically(dir.resolve(RECORD), record.toByteArray(), false);
        } catch (IOException e) {
            LOG.warn("group {} op {} host {}: cannot record the release round ({}): should this agent die before the "
                    + "round is over, the other hosts' held-back waiters wait for their give-up", op.getGroup(),
                    op.getOpId(), hostId, e.toString());
        }
    }

    private void removeRecord(OpContext op) {
        Path dir = OrphanStubs.directory(stateDir, op.getGroup(), op.getOpId());
        try {
            Files.deleteIfExists(dir.resolve(RECORD));
            OrphanStubs.removeIfEmpty(dir);
        } catch (IOException e) {
            LOG.warn("group {} op {} host {}: cannot remove the record of its release round: {}", op.getGroup(),
                    op.getOpId(), hostId, e.toString());
        }
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
                return;
            }
            LOG.warn("group {} op {} host {}: cannot record that its release round is over ({}): the held-back "
                    + "waiters of other hosts go at their stubs' give-up", op.getGroup(), op.getOpId(), hostId, e.toString());
        }
        removeRecord(op);
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
