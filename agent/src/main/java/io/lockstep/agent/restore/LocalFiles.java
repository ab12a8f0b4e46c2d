package io.lockstep.agent.restore;

import io.lockstep.proto.FdRecord;
import io.lockstep.proto.IdentityKind;
import io.lockstep.proto.LockRecord;
import io.lockstep.proto.ProcessRecord;

/**
 * Which recorded fds a restore on another host may leave closed: a local file (one only the
 * recorded host has — a JVM's jars, a log under the agent's state directory) that this host
 * cannot resolve and through which the process held no lock. The restarted program opens such
 * files itself; a lock-bearing fd, or any network file, must be there or the restore is refused.
 */
final class LocalFiles {
    private LocalFiles() {
    }

    static boolean skippable(ProcessRecord process, FdRecord fd, PathResolver resolver) {
        if (fd.getIdentity().getKind() != IdentityKind.LOCAL || resolver.resolve(fd).isPresent()) {
            return false;
        }
        for (LockRecord lock : process.getLocksList()) {
            if (lock.getFd() == fd.getFd()) {
                return false;
            }
        }
        return true;
    }
}
