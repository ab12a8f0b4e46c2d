package io.lockstep.agent.capture;

import io.lockstep.proto.FdRecord;
import io.lockstep.proto.LockRecord;
import io.lockstep.proto.Manifest;
import io.lockstep.proto.ProcessRecord;
import java.util.HashSet;
import java.util.Set;

/**
 * Counts of one manifest, for logs and the Capture reply.
 *
 * @param files distinct files (by identity) open anywhere in the group
 */
public record CaptureStats(int processes, int fds, int files, int heldLocks, int waitingLocks, int warnings) {

    public static CaptureStats of(Manifest manifest) {
        int fds = 0;
        int held = 0;
        int waiting = 0;
        Set<Object> files = new HashSet<>();
        for (ProcessRecord p : manifest.getProcessesList()) {
            fds += p.getFdsCount();
            for (FdRecord fd : p.getFdsList()) {
                if (fd.hasIdentity()) {
                    files.add(fd.getIdentity().toBuilder().clearFileHandle().clearHandleType().build());
                }
            }
            for (LockRecord l : p.getLocksList()) {
                if (l.getWaiting()) {
                    waiting++;
                } else {
                    held++;
                }
            }
        }
        return new CaptureStats(manifest.getProcessesCount(), fds, files.size(), held, waiting, manifest.getWarningsCount());
    }

    public int locks() {
        return heldLocks + waitingLocks;
    }
}
