package io.lockstep.agent.server;

import io.lockstep.agent.nativeio.Native;
import io.lockstep.agent.restore.StubBinary;
import io.lockstep.files.PrivateFiles;
import io.lockstep.proto.OpContext;
import io.lockstep.proto.ReleaseRoundRecord;
import io.lockstep.proto.StagedStubRecord;
import io.lockstep.zk.ZkLayout;
import org.apache.curator.framework.CuratorFramework;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.io.IOException;
import java.nio.file.DirectoryStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;

/**
 * Prepared restore stubs outlive their agent (docs/DESIGN.md, "Surviving its agent"): a stub whose
 * agent dies after a prepare round keeps its locks and waits for a signal from root. Each staged
 * stub is recorded on disk ({@code <state>/groups/<g>/restores/<op>/<stub pid>.stub}) until it is
 * released or ended; a restarted agent finds the stubs that still live, learns the op's decision
 * (an {@link OpWatch}: the decision, or ABORT once the coordinator is gone or the maximum time
 * passed) and carries it out: on COMMIT it records each restart spec and signals SIGUSR1 (the
 * stub execs its program; waiters for a handed-over lock a session timeout after the others), on
 * ABORT SIGTERM (SIGKILL if it is still there a grace period later).
 */
final class OrphanStubs {
    private static final Logger LOG = LoggerFactory.getLogger(OrphanStubs.class);
    static final String SUFFIX = ".stub";
    private static final int SIGUSR1 = 10;
    private static final int SIGTERM = 15;
    /** As long as a stub waits for its restarted agent (ORPHAN_WAIT_MS in lockstep-stub.c). */
    static final Duration ORPHAN_WAIT = Duration.ofMinutes(5);

    private final AgentConfig config;
    private final CuratorFramework zk;
    private final ZkLayout layout;
    private final GroupRegistry groups;
    private final ScheduledExecutorService timer;
    private final HandOverMarks marks;

    OrphanStubs(AgentConfig config, CuratorFramework zk, ZkLayout layout, GroupRegistry groups,
                ScheduledExecutorService timer) {
        this.config = config;
        this.zk = zk;
        this.layout = layout;
        this.groups = groups;
        this.timer = timer;
        this.marks = new HandOverMarks(config, zk, layout, timer);
    }

    static Path directory(Path stateDir, String group, String opId) {
        return stateDir.resolve("groups").resolve(group).resolve("restores").resolve(opId);
    }

    /** Records a staged stub (before it can be prepared, so before it can outlive this agent). */
    static void record(Path stateDir, StagedStubRecord stub) throws IOException {
        Path dir = PrivateFiles.createDirectories(directory(stateDir, stub.getCtx().getGroup(), stub.getCtx().getOpId()));
        PrivateFiles.writeAtomically(dir.resolve(stub.getStubPid() + SUFFIX), stub.toByteArray(), false);
    }

    /** The stub was released or ended by this agent: nothing is left to adopt. */
    static void forget(Path stateDir, OpContext op, int stubPid) {
        Path dir = directory(stateDir, op.getGroup(), op.getOpId());
        try {
            Files.deleteIfExists(dir.resolve(stubPid + SUFFIX));
            removeIfEmpty(dir);
        } catch (IOException e) {
            LOG.warn("op {}: cannot remove the record of stub pid {}: {}", op.getOpId(), stubPid, e.toString());
        }
    }

    /** Removes an op's directory once nothing is recorded in it: no stub, no release round ({@link HandOverMarks}). */
    static void removeIfEmpty(Path opDir) throws IOException {
        if (!Files.isDirectory(opDir)) {
            return;
        }
        try (DirectoryStream<Path> left = Files.newDirectoryStream(opDir)) {
            if (!left.iterator().hasNext()) {
                Files.deleteIfExists(opDir);
            }
        }
    }

    /** At start, before serving: every recorded op whose stubs still live is watched to its decision. */
    void adopt() throws IOException {
        for (ManagedGroup group : groups.all().values()) {
            Path restores = config.stateDir().resolve("groups").resolve(group.name()).resolve("restores");
            if (!Files.isDirectory(restores)) {
                continue;
            }
            try (DirectoryStream<Path> ops = Files.newDirectoryStream(restores)) {
                for (Path opDir : ops) {
                    adoptOp(group, opDir);
                }
            }
        }
    }

    private void adoptOp(ManagedGroup group, Path opDir) throws IOException {
        Map<Integer, StagedStubRecord> living = new LinkedHashMap<>();
        OpContext op = null;
        try (DirectoryStream<Path> files = Files.newDirectoryStream(opDir, "*" + SUFFIX)) {
            for (Path file : files) {
                StagedStubRecord stub = StagedStubRecord.parseFrom(Files.readAllBytes(file));
                op = stub.getCtx();
                if (isOurStub(stub)) {
                    living.put(stub.getStubPid(), stub);
                } else {
                    Files.deleteIfExists(file);
                }
            }
        }
        // A release round the previous agent began (only ever on a COMMIT) is finished and marked from its record.
        Optional<ReleaseRoundRecord> round = HandOverMarks.recorded(opDir);
        round.ifPresent(marks::resume);
        if (living.isEmpty()) {
            deleteStubRecords(opDir);
            return;
        }
        OpContext watched = op;
        LOG.warn("group {} op {} host {}: {} prepared stubs {} outlived the previous agent; waiting for the decision",
                group.name(), op.getOpId(), config.hostId(), living.size(), living.keySet());
        OpWatch watch = new OpWatch(zk, layout, op, config.hostId(), config.sessionTimeout(), timer, false,
                verdict -> carryOut(group, watched, living, verdict.committed(), verdict.reason(), opDir,
                        round.isEmpty()));
        watch.start(ORPHAN_WAIT);
    }

    private void carryOut(ManagedGroup group, OpContext op, Map<Integer, StagedStubRecord> living, boolean commit,
                          String reason, Path opDir, boolean markRound) {
        List<StagedStubRecord> first = new ArrayList<>();
        List<StagedStubRecord> heldBack = new ArrayList<>();
        living.values().forEach(stub -> (commit && stub.getHeldBack() ? heldBack : first).add(stub));
        signal(group, op, first, commit, reason);
        if (commit && markRound) {
            // Without the previous agent's hand-over checks: the released programs take their locks again
            // within a session timeout, then this host's release round counts as over for the other hosts.
            timer.schedule(() -> marks.mark(op), config.sessionTimeout().toMillis(), TimeUnit.MILLISECONDS);
        }
        if (heldBack.isEmpty()) {
            deleteStubRecords(opDir);
        } else {
            // Their holders (here or on another host) take the handed-over locks again meanwhile.
            Instant giveUpAt = Instant.now().plus(ORPHAN_WAIT);
            timer.schedule(() -> marks.releaseWhenAllMarked(op, giveUpAt, () -> {
                signal(group, op, heldBack, true, reason + "; held-back waiters once every host's release round was over");
                deleteStubRecords(opDir);
            }), config.sessionTimeout().toMillis(), TimeUnit.MILLISECONDS);
        }
    }

    private void signal(ManagedGroup group, OpContext op, List<StagedStubRecord> stubs, boolean commit, String reason) {
        for (StagedStubRecord stub : stubs) {
            try {
                if (!isOurStub(stub)) {
                    LOG.warn("group {} op {} host {}: stub pid {} of recorded pid {} (host {}) is gone", group.name(),
                            op.getOpId(), config.hostId(), stub.getStubPid(), stub.getOldPid(), stub.getSourceHostId());
                    continue;
                }
                if (commit) {
                    group.specs().put(stub.getStubPid(), stub.getRestart());
                    Native.kill(stub.getStubPid(), SIGUSR1);
                } else {
                    Native.kill(stub.getStubPid(), SIGTERM);
                    int pid = stub.getStubPid();
                    timer.schedule(() -> ProcessHandle.of(pid).ifPresent(ProcessHandle::destroyForcibly),
                            config.sessionTimeout().toMillis(), TimeUnit.MILLISECONDS);
                }
                LOG.warn("group {} op {} host {}: {} stub pid {} of recorded pid {} (host {}) the previous agent left ({})",
                        group.name(), op.getOpId(), config.hostId(), commit ? "released" : "ended", stub.getStubPid(),
                        stub.getOldPid(), stub.getSourceHostId(), reason);
            } catch (Exception e) {
                LOG.error("group {} op {} host {}: cannot {} stub pid {}: {}", group.name(), op.getOpId(),
                        config.hostId(), commit ? "release" : "end", stub.getStubPid(), e.toString());
            }
        }
    }

    /** The recorded pid is still that stub: same start time, running the stub binary. */
    private static boolean isOurStub(StagedStubRecord stub) {
        Optional<ProcessHandle> process = ProcessHandle.of(stub.getStubPid());
        if (process.isEmpty()) {
            return false;
        }
        boolean sameStart = process.get().info().startInstant()
                .map(start -> Math.abs(start.toEpochMilli() - stub.getStubStartUnixMs()) < 1000).orElse(false);
        boolean isStub = process.get().info().command().map(c -> c.contains(StubBinary.NAME)).orElse(false);
        return sameStart && isStub;
    }

    /** Removes the stub records, and the op's directory unless a release round's record is left in it. */
    private static void deleteStubRecords(Path opDir) {
        try {
            try (DirectoryStream<Path> files = Files.newDirectoryStream(opDir, "*" + SUFFIX)) {
                for (Path file : files) {
                    Files.deleteIfExists(file);
                }
            }
            removeIfEmpty(opDir);
        } catch (IOException e) {
            LOG.warn("cannot remove {}: {}", opDir, e.toString());
        }
    }
}
