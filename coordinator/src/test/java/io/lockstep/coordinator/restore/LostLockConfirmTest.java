package io.lockstep.coordinator.restore;

import io.lockstep.coordinator.checkpoint.CheckpointOperation;
import io.lockstep.coordinator.checkpoint.CheckpointOptions;
import io.lockstep.coordinator.op.FailureReason;
import io.lockstep.coordinator.op.OperationFailedException;
import io.lockstep.coordinator.op.OperationListener;
import io.lockstep.coordinator.testing.Invariants;
import io.lockstep.coordinator.testing.LocalCluster;
import io.lockstep.coordinator.testing.PhaseTrigger;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

/**
 * A stub that lives but lost a lock after prepare (as an NFS server that lost its lock state does
 * to it) must not be committed over: the confirm round looks every planned lock up in the stub's
 * fdinfo and the restore aborts naming the lock. The lock is taken away for real: a process gets
 * the stub's open file description with pidfd_getfd(2) and unlocks its OFD lock, the stub living on.
 */
class LostLockConfirmTest {
    /** argv: stub pid, fd number. Unlocks every OFD lock of that open file description. */
    private static final String UNLOCK_THROUGH_PIDFD_GETFD = String.join("\n",
            "import ctypes, fcntl, os, struct, sys",
            "libc = ctypes.CDLL(None, use_errno=True)",
            "libc.syscall.restype = ctypes.c_long",
            "pidfd = libc.syscall(ctypes.c_long(434), ctypes.c_long(int(sys.argv[1])), ctypes.c_long(0))",
            "if pidfd < 0: raise OSError(ctypes.get_errno(), 'pidfd_open')",
            "fd = libc.syscall(ctypes.c_long(438), ctypes.c_long(pidfd), ctypes.c_long(int(sys.argv[2])), ctypes.c_long(0))",
            "if fd < 0: raise OSError(ctypes.get_errno(), 'pidfd_getfd')",
            "F_OFD_SETLK = 37",
            "fcntl.fcntl(fd, F_OFD_SETLK, struct.pack('hh4xqqi4x', fcntl.F_UNLCK, os.SEEK_SET, 0, 0, 0))");

    private LocalCluster cluster;

    @AfterEach
    void tearDown() throws Exception {
        if (cluster != null) {
            cluster.close();
        }
    }

    @Test
    void aLockLostByALiveStubAfterPrepareAbortsTheRestoreNamingTheLock() throws Exception {
        cluster = LocalCluster.start("h1");
        Path data = Files.writeString(cluster.dir().resolve("lost-lock-data"), "0123456789");
        int worker = cluster.run("h1", "app", LocalCluster.worker("fd", "500", data.toString(),
                "lock", "ofd", "write", "500", "0", "10", "ready", "sleep"));
        cluster.awaitReady("h1", "app", worker);
        new CheckpointOperation(cluster.coordinator(), CheckpointOptions.defaults(), OperationListener.SILENT).run("app");
        cluster.killApplications();
        List<Long> stubsSeen = new java.util.ArrayList<>();
        PhaseTrigger unlock = new PhaseTrigger("end:prepare", () -> {
            for (long stub : Invariants.stubPids(cluster)) {
                stubsSeen.add(stub);
                Path fdinfo = Path.of("/proc", Long.toString(stub), "fdinfo", "500");
                assertThat(Files.readString(fdinfo)).as("the stub holds its OFD lock after prepare").contains("OFDLCK");
                Process steal = new ProcessBuilder("python3", "-c", UNLOCK_THROUGH_PIDFD_GETFD, Long.toString(stub), "500")
                        .redirectErrorStream(true).start();
                String output = new String(steal.getInputStream().readAllBytes());
                assertThat(steal.waitFor()).as("unlocking through pidfd_getfd: " + output).isZero();
                assertThat(Files.readString(fdinfo)).as("the stub lives on without its lock").doesNotContain("OFDLCK");
                assertThat(ProcessHandle.of(stub)).as("stub " + stub + " lives").isPresent();
            }
        });

        assertThatThrownBy(() -> new RestoreOperation(cluster.coordinator(), RestoreOptions.defaults().withAllowRoot(true),
                unlock).run("app"))
                .isInstanceOfSatisfying(OperationFailedException.class, e -> {
                    assertThat(e.reason()).isEqualTo(FailureReason.STAGE_FAILED);
                    assertThat(e.hostId()).contains("h1");
                    assertThat(e.getMessage()).contains("OFD WRITE lock on " + data + " [0..9]")
                            .contains("is no longer held");
                });
        assertThat(stubsSeen).as("the fault reached a stub").hasSize(1);
        assertThat(Invariants.decisions(cluster, "app")).last().satisfies(d -> assertThat(d.isCommit()).isFalse());
        Invariants.assertAll(cluster);
    }
}
