package io.lockstep.agent.restore;

import io.lockstep.names.RawPaths;
import io.lockstep.proto.FdRecord;
import io.lockstep.proto.IdentityKind;
import io.lockstep.proto.LockRecord;
import io.lockstep.proto.ProcessRecord;

import java.util.List;
import java.util.Optional;

/**
 * Which recorded fds a restore may leave closed, through none of which the process held a lock;
 * the restarted program opens such files itself:
 * <ul>
 * <li>a local file only the recorded host has (a JVM's jars, a log under the agent's state
 * directory) that this host cannot resolve;
 * <li>a kernel interface under /proc or /sys, which carries no state a restore could bring back
 * and which runtimes open for an instant (a JVM reads its cgroup's {@code memory.stat} now and
 * then, so a freeze can catch it open).
 * </ul>
 * A lock-bearing fd, or any other network or local file, must be there or the restore is refused.
 */
final class LocalFiles {
    private static final List<String> KERNEL_INTERFACES = List.of("/proc", "/sys");

    private LocalFiles() {
    }

    /** Why {@code fd} is left closed by a restore on this host; empty when it must be reopened. */
    static Optional<String> leftClosed(ProcessRecord process, FdRecord fd, PathResolver resolver) {
        for (LockRecord lock : process.getLocksList()) {
            if (lock.getFd() == fd.getFd()) {
                return Optional.empty();
            }
        }
        for (String kernel : KERNEL_INTERFACES) {
            if (RawPaths.isUnder(fd.getPath(), kernel)) {
                return Optional.of("kernel interface under " + kernel + " without a lock");
            }
        }
        if (fd.getIdentity().getKind() == IdentityKind.LOCAL && resolver.resolve(fd).isEmpty()) {
            return Optional.of("local file of another host without a lock");
        }
        return Optional.empty();
    }
}
