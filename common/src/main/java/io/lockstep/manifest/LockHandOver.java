package io.lockstep.manifest;

import io.lockstep.proto.LockKind;
import io.lockstep.proto.LockRecord;
import io.lockstep.proto.ProcessRecord;
import java.util.List;

/**
 * Which locks a restore hands over to the restarted program instead of keeping them across
 * execve: flock and OFD locks. Their owner is an open file description, so the program's own
 * open of the file would conflict with the stub's (a restored flock(1) would wait for itself for
 * ever); the stub holds them through prepare, and its descriptors close at execve so that the
 * program takes them again. POSIX locks belong to the process and survive execve: kept.
 *
 * <p>Not handed over: a flock/OFD lock on a file on which the same process also holds a POSIX
 * lock. Closing any descriptor of a file drops all of the process's POSIX locks on it, so that
 * lock stays held across execve (as before), and the program must not take it again itself.
 */
public final class LockHandOver {
    private LockHandOver() {
    }

    public static boolean handedOver(ProcessRecord process, LockRecord lock) {
        if (lock.getWaiting() || lock.getKind() != LockKind.FLOCK && lock.getKind() != LockKind.OFD) {
            return false;
        }
        return process.getLocksList().stream().noneMatch(other -> !other.getWaiting()
                && other.getKind() == LockKind.POSIX && other.getDev() == lock.getDev()
                && other.getInode() == lock.getInode());
    }

    /** The process's locks that are handed over, in recorded order. */
    public static List<LockRecord> handedOver(ProcessRecord process) {
        return process.getLocksList().stream().filter(lock -> handedOver(process, lock)).toList();
    }
}
