package io.lockstep.agent.restore;

import io.lockstep.agent.nativeio.LibC;
import io.lockstep.agent.nativeio.Native;
import io.lockstep.agent.nativeio.NativeException;
import io.lockstep.proto.FromStub;
import io.lockstep.proto.LockKind;
import io.lockstep.proto.LockType;
import io.lockstep.proto.StubLock;
import io.lockstep.proto.StubPrepare;
import io.lockstep.proto.StubStatus;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.locks.LockSupport;

/**
 * Takes one PREPARE's locks in the given order, all or nothing: on a conflict, a timeout or a
 * failed call it releases what it took in this round before it answers. Locks of earlier rounds
 * stay held unless the request asks for a reset. It never closes or
 * moves an fd, because closing any fd of a file drops all of the process's POSIX locks on it.
 *
 * <p>Blocking mode polls the non-blocking calls with a bounded back-off instead of sleeping in
 * F_SETLKW: interrupting F_SETLKW at the deadline needs a signal handler inside the JVM, whose
 * own signal use makes that fragile, while polling keeps every wait bounded by the deadline
 * and the same code serves POSIX, OFD and flock locks.
 *
 * <p>No enum switches here: they compile to a helper class loaded on first use, which may be
 * after the stub dropped the privileges needed to read its class path.
 */
final class LockRound {
    private static final long FIRST_BACKOFF_NANOS = TimeUnit.MILLISECONDS.toNanos(1);
    private static final long MAX_BACKOFF_NANOS = TimeUnit.MILLISECONDS.toNanos(50);

    private final Map<Integer, String> pathByFd;
    private final int pid;
    private final List<StubLock> held = new ArrayList<>();

    /** True when a release failed: the stub then exits, so that it surely holds nothing. */
    private boolean mustExit;

    LockRound(Map<Integer, String> pathByFd, int pid) {
        this.pathByFd = pathByFd;
        this.pid = pid;
    }

    boolean mustExit() {
        return mustExit;
    }

    FromStub prepare(StubPrepare request) {
        if (request.getReset()) {
            release(held);
        }
        List<StubLock> round = new ArrayList<>();
        for (StubLock lock : request.getLocksList()) {
            String path = pathByFd.get(lock.getFd());
            if (path == null) {
                release(round);
                return failed(lock.getFd(), "", "lock #" + lock.getOrder() + " is on fd " + lock.getFd()
                        + ", which this stub did not restore");
            }
            try {
                if (!take(lock, path, request.getBlocking(), request.getDeadlineUnixMs())) {
                    int holder = holder(lock, path);
                    release(round);
                    return FromStub.newBuilder()
                            .setStatus(request.getBlocking() ? StubStatus.STUB_TIMEOUT : StubStatus.STUB_CONFLICT)
                            .setPid(pid).setLocksHeld(held.size()).setLock(lock).setHolderPid(holder)
                            .setFd(lock.getFd()).setPath(path)
                            .setMessage(describe(lock, path) + " is held by pid " + holder).build();
                }
            } catch (NativeException e) {
                release(round);
                return failed(lock.getFd(), path, describe(lock, path) + ": " + e.getMessage());
            }
            round.add(lock);
            held.add(lock);
        }
        return FromStub.newBuilder().setStatus(StubStatus.STUB_PREPARED).setPid(pid)
                .setLocksHeld(held.size()).build();
    }

    private boolean take(StubLock lock, String path, boolean blocking, long deadlineUnixMs) throws NativeException {
        long backoff = FIRST_BACKOFF_NANOS;
        while (!tryTake(lock, path)) {
            long left = TimeUnit.MILLISECONDS.toNanos(deadlineUnixMs - System.currentTimeMillis());
            if (!blocking || left <= 0) {
                return false;
            }
            LockSupport.parkNanos(Math.min(backoff, left));
            backoff = Math.min(backoff * 2, MAX_BACKOFF_NANOS);
        }
        return true;
    }

    private static boolean tryTake(StubLock lock, String path) throws NativeException {
        int fd = lock.getFd();
        if (lock.getKind() == LockKind.POSIX) {
            return Native.fcntlLock(fd, LibC.F_SETLK, flock(lock, type(lock)), path) != null;
        }
        if (lock.getKind() == LockKind.OFD) {
            return Native.fcntlLock(fd, LibC.F_OFD_SETLK, flock(lock, type(lock)), path) != null;
        }
        if (lock.getKind() == LockKind.FLOCK) {
            return Native.flock(fd, (lock.getType() == LockType.WRITE ? LibC.LOCK_EX : LibC.LOCK_SH) | LibC.LOCK_NB,
                    path);
        }
        throw new IllegalArgumentException("fd " + fd + " (" + path + "): lock kind " + lock.getKind()
                + " cannot be restored");
    }

    /** Gives back these locks (a failed round's, or all of them on reset) and forgets them. */
    private void release(List<StubLock> locks) {
        for (StubLock lock : locks) {
            String path = pathByFd.get(lock.getFd());
            try {
                if (lock.getKind() == LockKind.POSIX) {
                    Native.fcntlLock(lock.getFd(), LibC.F_SETLK, flock(lock, LibC.F_UNLCK), path);
                } else if (lock.getKind() == LockKind.OFD) {
                    Native.fcntlLock(lock.getFd(), LibC.F_OFD_SETLK, flock(lock, LibC.F_UNLCK), path);
                } else {
                    Native.flock(lock.getFd(), LibC.LOCK_UN, path);
                }
            } catch (NativeException e) {
                mustExit = true;
            }
        }
        held.removeAll(locks);
        locks.clear();
    }

    /**
     * Who holds the lock we could not take: fcntl's F_GETLK for a POSIX holder; /proc/locks for
     * flock and OFD holders, of which F_GETLK reports no pid (-1 when the kernel shows none).
     */
    private int holder(StubLock lock, String path) {
        try {
            if (lock.getKind() == LockKind.POSIX) {
                Native.Flock answer = Native.fcntlLock(lock.getFd(), LibC.F_GETLK, flock(lock, type(lock)), path);
                if (answer.type() != LibC.F_UNLCK && answer.pid() > 0) {
                    return answer.pid();
                }
            }
            Path link = Path.of("/proc/self/fd/" + lock.getFd());
            long dev = (Long) Files.getAttribute(link, "unix:dev");
            long ino = (Long) Files.getAttribute(link, "unix:ino");
            List<String> kinds = lock.getKind() == LockKind.FLOCK
                    ? List.of("FLOCK") : List.of("POSIX", "OFDLCK");
            long end = lock.getKind() == LockKind.FLOCK ? -1 : lock.getEnd();
            long start = lock.getKind() == LockKind.FLOCK ? 0 : lock.getStart();
            return ProcLocks.holder(dev, ino, kinds, lock.getType().name(), start, end, pid);
        } catch (IOException | RuntimeException e) {
            return -1;
        }
    }

    private static short type(StubLock lock) {
        return lock.getType() == LockType.WRITE ? LibC.F_WRLCK : LibC.F_RDLCK;
    }

    /** struct flock for the recorded range; end -1 (to EOF) is length 0. */
    private static Native.Flock flock(StubLock lock, short type) {
        long len = lock.getEnd() < 0 ? 0 : lock.getEnd() - lock.getStart() + 1;
        return new Native.Flock(type, lock.getStart(), len, 0);
    }

    static String describe(StubLock lock, String path) {
        return lock.getKind() + " " + lock.getType() + " lock #" + lock.getOrder() + " on fd " + lock.getFd()
                + " (" + path + ") range " + lock.getStart() + "-" + (lock.getEnd() < 0 ? "EOF" : lock.getEnd());
    }

    private FromStub failed(int fd, String path, String message) {
        return FromStub.newBuilder().setStatus(StubStatus.STUB_FAILED).setPid(pid).setLocksHeld(held.size())
                .setFd(fd).setPath(path).setMessage(message).build();
    }
}
