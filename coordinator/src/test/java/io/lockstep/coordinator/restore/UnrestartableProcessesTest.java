package io.lockstep.coordinator.restore;

import io.lockstep.proto.FileIdentity;
import io.lockstep.proto.IdentityKind;
import io.lockstep.proto.LockKind;
import io.lockstep.proto.LockRecord;
import io.lockstep.proto.LockType;
import io.lockstep.proto.Manifest;
import io.lockstep.proto.ProcessRecord;
import io.lockstep.proto.RestartSpec;
import org.junit.jupiter.api.Test;

import static org.assertj.core.api.Assertions.assertThat;

/** What --skip-unrestartable prints before the release: the left-out processes and the locks nobody takes. */
class UnrestartableProcessesTest {
    private static LockRecord lock(LockKind kind, long end, boolean waiting) {
        return LockRecord.newBuilder().setKind(kind).setType(LockType.WRITE).setStart(0).setEnd(end).setWaiting(waiting)
                .setIdentity(FileIdentity.newBuilder().setKind(IdentityKind.NETWORK).setSource("nfs1:/export")
                        .setRelativePath("app/db")).build();
    }

    @Test
    void namesEachLeftOutProcessAndTheLocksItHeldButNotTheRestartableOnes() {
        Manifest manifest = Manifest.newBuilder()
                .addProcesses(ProcessRecord.newBuilder().setPid(10).setComm("app")
                        .setRestart(RestartSpec.newBuilder().addArgv("/bin/app")).addLocks(lock(LockKind.POSIX, 9, false)))
                .addProcesses(ProcessRecord.newBuilder().setPid(11).setComm("helper")
                        .addLocks(lock(LockKind.FLOCK, -1, false)).addLocks(lock(LockKind.POSIX, 99, false))
                        .addLocks(lock(LockKind.POSIX, 9, true)))
                .addProcesses(ProcessRecord.newBuilder().setPid(12).setComm("sleep"))
                .build();

        assertThat(UnrestartableProcesses.leftOut("h1", "h2", manifest)).containsExactly(
                "--skip-unrestartable: process 11 (helper) of host h1 has no restart spec and is not restored on host"
                        + " h2; these 2 lock(s) it held are not taken before the release: FLOCK WRITE lock on"
                        + " nfs1:/export//app/db [0..EOF] of pid 11 from host h1; POSIX WRITE lock on"
                        + " nfs1:/export//app/db [0..99] of pid 11 from host h1; it waited for 1 lock(s)",
                "--skip-unrestartable: process 12 (sleep) of host h1 has no restart spec and is not restored on host"
                        + " h2; it held no locks");
    }
}
