package io.lockstep.agent.server;

import com.google.protobuf.ByteString;
import io.lockstep.agent.proc.LockEntry;
import io.lockstep.agent.proc.ProcLocks;
import io.lockstep.manifest.ManifestCodec;
import io.lockstep.proto.AbortRequest;
import io.lockstep.proto.CaptureRequest;
import io.lockstep.proto.FreezeRequest;
import io.lockstep.proto.LockRecord;
import io.lockstep.proto.LockToTake;
import io.lockstep.proto.Manifest;
import io.lockstep.proto.OpContext;
import io.lockstep.proto.OpKind;
import io.lockstep.proto.PrepareReply;
import io.lockstep.proto.PrepareRequest;
import io.lockstep.proto.ProcessRecord;
import io.lockstep.proto.StageReply;
import io.lockstep.proto.StageRequest;
import io.lockstep.proto.StagedProcess;
import io.lockstep.proto.StopRequest;
import io.lockstep.proto.ThawRequest;
import io.lockstep.zk.Decision;
import io.lockstep.zk.testing.ZkTestRoot;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;

import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.awaitility.Awaitility.await;

/**
 * This host's part of a restore, through RestoreParticipant's public calls, with real stubs and a
 * real flock lock: the manifest is captured from a real process holding the lock (flock(1)), whose
 * group is then stopped. Staged stubs take the recorded lock in Prepare; an abort ends every stub,
 * and then /proc/locks holds nothing on the file (docs/DESIGN.md, "Invariants": after an abort,
 * no restored lock and no stub is left).
 */
class RestoreParticipantTest {
    private static final Duration BUDGET = Duration.ofSeconds(30);
    @RegisterExtension
    final ZkTestRoot zooKeeper = new ZkTestRoot();
    private AgentParts agent;
    private String group;
    private Path lockFile;
    private Manifest manifest;

    /** Checkpoints a group whose one process holds an exclusive flock on a file, then stops the group. */
    @BeforeEach
    void captureALockHolderAndStopIt() throws Exception {
        agent = AgentParts.start("h1", zooKeeper);
        group = AgentParts.newGroup();
        lockFile = agent.work.resolve("db.lock");
        // -o: the lock's fd is closed for sleep, so flock(1) is the lock's only holder.
        agent.run(group, "/usr/bin/flock", "-x", "-o", lockFile.toString(), "sleep", "600");
        await("flock(1) holds its lock").atMost(Duration.ofSeconds(10)).until(() -> !locksOnLockFile().isEmpty());
        OpContext checkpoint = agent.open(group, OpKind.CHECKPOINT, BUDGET);
        agent.checkpoint.freeze(FreezeRequest.newBuilder().setCtx(checkpoint).setTimeoutMs(BUDGET.toMillis())
                .setMaxFrozenMs(BUDGET.toMillis()).build());
        manifest = ManifestCodec.decode(agent.checkpoint.capture(CaptureRequest.newBuilder().setCtx(checkpoint).build())
                .framed());
        agent.decide(checkpoint, Decision.commit());
        agent.checkpoint.thaw(ThawRequest.newBuilder().setCtx(checkpoint).build());
        agent.processes.stop(StopRequest.newBuilder().setGroup(group).setGraceMs(5000).build(), "h1");
        assertThat(heldLocks()).as("the manifest records the flock lock").hasSize(1);
        assertThat(locksOnLockFile()).as("the stopped process dropped its lock").isEmpty();
    }

    /** Also fails the test if it left a group frozen. */
    @AfterEach
    void stop() throws Exception {
        agent.close();
    }

    private List<LockEntry> locksOnLockFile() throws Exception {
        if (!Files.exists(lockFile)) {
            return List.of();
        }
        long inode = (Long) Files.getAttribute(lockFile, "unix:ino");
        return ProcLocks.read().stream().filter(e -> e.inode() == inode && !e.waiter()).toList();
    }

    private List<LockToTake> heldLocks() {
        List<LockToTake> locks = new ArrayList<>();
        for (ProcessRecord process : manifest.getProcessesList()) {
            for (LockRecord lock : process.getLocksList()) {
                if (!lock.getWaiting()) {
                    locks.add(LockToTake.newBuilder().setOrder(locks.size()).setOldPid(process.getPid())
                            .setSourceHostId(manifest.getHostId()).setLock(lock).build());
                }
            }
        }
        return locks;
    }

    private StageReply stage(OpContext restore) throws Exception {
        return agent.restore.stage(StageRequest.newBuilder().setCtx(restore)
                .setManifest(ByteString.copyFrom(ManifestCodec.encode(manifest))).setCheckpointId("ckpt-1")
                // flock(1)'s child (sleep) was not started through the agent: it has no restart spec.
                .setSkipUnrestartable(true).build());
    }

    private PrepareRequest prepareOf(OpContext restore) {
        return PrepareRequest.newBuilder().setCtx(restore).addAllLocks(heldLocks()).setTimeoutMs(BUDGET.toMillis())
                .setLast(true).build();
    }

    private static boolean alive(StagedProcess stub) {
        return ProcessHandle.of(stub.getNewPid()).filter(ProcessHandle::isAlive).isPresent();
    }

    @Test
    void stagePrepareAndAbortLeaveNoLockTakenAndNoStubRunning() throws Exception {
        OpContext restore = agent.open(group, OpKind.RESTORE, BUDGET);

        StageReply staged = stage(restore);
        assertThat(staged.getStubsList()).as("one stub, for flock(1)").hasSize(1).allMatch(RestoreParticipantTest::alive);
        PrepareReply prepared = agent.restore.prepare(prepareOf(restore));
        assertThat(prepared.getPrepared()).isTrue();
        assertThat(prepared.getLocksTaken()).isEqualTo(1);
        assertThat(locksOnLockFile()).as("a stub holds the recorded lock").singleElement()
                .satisfies(lock -> assertThat(staged.getStubsList()).extracting(StagedProcess::getNewPid)
                        .contains(lock.pid()));

        agent.restore.abort(AbortRequest.newBuilder().setCtx(restore).setReason("test abort").build());

        assertThat(agent.decision(restore)).hasValueSatisfying(d -> assertThat(d.isCommit()).isFalse());
        await("every stub has exited").atMost(Duration.ofSeconds(10))
                .until(() -> staged.getStubsList().stream().noneMatch(RestoreParticipantTest::alive));
        assertThat(locksOnLockFile()).as("locks left on " + lockFile).isEmpty();
        assertThatThrownBy(() -> agent.restore.prepare(prepareOf(restore)))
                .hasMessageContaining("op " + restore.getOpId() + " has no stubs on host h1");
    }

    @Test
    void aLockHeldByAnotherProcessIsAConflictNamingFileAndHolderAndAnAbortThenLeavesNothingOfTheRestore()
            throws Exception {
        Process other = new ProcessBuilder("/usr/bin/flock", "-x", "-o", lockFile.toString(), "sleep", "600").start();
        try {
            await("another process holds the lock").atMost(Duration.ofSeconds(10))
                    .until(() -> !locksOnLockFile().isEmpty());
            OpContext restore = agent.open(group, OpKind.RESTORE, BUDGET);
            StageReply staged = stage(restore);

            PrepareReply refused = agent.restore.prepare(prepareOf(restore));

            assertThat(refused.getPrepared()).isFalse();
            assertThat(refused.getConflictsList()).singleElement().satisfies(conflict -> {
                assertThat(conflict.getPath()).isEqualTo(lockFile.toString());
                assertThat(conflict.getHolderPid()).isEqualTo((int) other.pid());
                assertThat(conflict.getHostId()).isEqualTo("h1");
            });

            agent.restore.abort(AbortRequest.newBuilder().setCtx(restore).build());

            await("every stub has exited").atMost(Duration.ofSeconds(10))
                    .until(() -> staged.getStubsList().stream().noneMatch(RestoreParticipantTest::alive));
            assertThat(locksOnLockFile()).extracting(LockEntry::pid).as("only the other process holds a lock")
                    .containsExactly((int) other.pid());
        } finally {
            other.descendants().forEach(ProcessHandle::destroyForcibly);
            other.destroyForcibly().onExit().join();
        }
    }
}
