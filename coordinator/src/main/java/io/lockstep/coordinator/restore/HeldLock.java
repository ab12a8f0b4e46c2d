package io.lockstep.coordinator.restore;

import io.lockstep.proto.FileIdentity;
import io.lockstep.proto.IdentityKind;
import io.lockstep.proto.LockRecord;

/** A lock that was held at checkpoint, with where it came from and where it will be taken again. */
public record HeldLock(String sourceHost, String targetHost, int oldPid, LockRecord lock) {

    /**
     * The file part of the global order: the portable identity, so that every host sorts a shared
     * file the same way no matter where it is mounted.
     */
    public String fileKey() {
        FileIdentity id = lock.getIdentity();
        if (id.getKind() == IdentityKind.NETWORK) {
            return "net:" + id.getSource() + ":" + id.getRelativePath();
        }
        if (id.getKind() == IdentityKind.LOCAL) {
            return "local:" + id.getHostId() + ":" + id.getDevice() + ":" + id.getRelativePath();
        }
        return "inode:" + sourceHost + ":" + lock.getDev() + ":" + lock.getInode();
    }

    /** Inclusive end with "to end of file" as the largest value. */
    public long endKey() {
        return lock.getEnd() < 0 ? Long.MAX_VALUE : lock.getEnd();
    }

    /** Where the lock is, for reports: file, range and type. */
    public String describe() {
        String end = lock.getEnd() < 0 ? "EOF" : Long.toString(lock.getEnd());
        return lock.getKind() + " " + lock.getType() + " lock on " + fileKey() + " [" + lock.getStart() + ".." + end
                + "] of pid " + oldPid + " from host " + sourceHost;
    }
}
