package io.lockstep.bench.capture;

import io.lockstep.agent.nativeio.LibC;
import io.lockstep.agent.nativeio.Native;
import io.lockstep.bench.harness.ChildMain;
import java.nio.file.Path;
import java.util.HashMap;
import java.util.Map;

/**
 * Child that takes many locks and holds them. Usage:
 * {@code LockingChild DIR FILES INDEX PROCESSES POSIX OFD}.
 *
 * <p>Of the POSIX lock numbers 0, 1, 2, … this process takes those {@code g} with
 * {@code g % PROCESSES == INDEX}, {@code POSIX} of them: a write lock on byte
 * {@code 2 * (g / FILES)} of file {@code DIR/f<g % FILES>}. Every lock is on its own byte and
 * no two of one owner touch (a gap of one byte), so the kernel merges none of them and
 * /proc/locks shows exactly one line per lock. It also takes {@code OFD} OFD write locks on
 * {@code DIR/ofd} (bytes {@code 2 * (INDEX + k * PROCESSES)}, one open file description) and a
 * shared flock on {@code DIR/flock}.
 *
 * <p>Locks are taken highest byte first: the kernel keeps an owner's POSIX locks sorted by start
 * and walks them from the lowest until the new lock's place, so a new lowest lock is found at
 * once. (Every request still scans all locks of the file for conflicts, which makes taking n locks
 * on one file O(n²): ~45 s for 50k here.)
 */
public final class LockingChild {
    private LockingChild() {
    }

    public static void main(String[] args) throws Exception {
        Path dir = Path.of(args[0]);
        int files = Integer.parseInt(args[1]);
        int index = Integer.parseInt(args[2]);
        int processes = Integer.parseInt(args[3]);
        int posix = Integer.parseInt(args[4]);
        int ofd = Integer.parseInt(args[5]);

        Map<Integer, Integer> fds = new HashMap<>();
        for (int k = posix - 1; k >= 0; k--) {
            long g = index + (long) k * processes;
            int file = (int) (g % files);
            String path = dir.resolve("f" + file).toString();
            int fd = fds.computeIfAbsent(file, f -> open(path));
            writeLock(fd, LibC.F_SETLK, 2 * (g / files), path);
        }
        String ofdPath = dir.resolve("ofd").toString();
        int ofdFd = open(ofdPath);
        for (int k = 0; k < ofd; k++) {
            writeLock(ofdFd, LibC.F_OFD_SETLK, 2L * (index + (long) k * processes), ofdPath);
        }
        String flockPath = dir.resolve("flock").toString();
        if (!Native.flock(open(flockPath), LibC.LOCK_SH | LibC.LOCK_NB, flockPath)) {
            throw new IllegalStateException("shared flock on " + flockPath + " refused");
        }
        ChildMain.readyUntilStdinCloses();
    }

    private static int open(String path) {
        try {
            return Native.open(path, LibC.O_RDWR | LibC.O_CREAT, 0644);
        } catch (Exception e) {
            throw new IllegalStateException(e);
        }
    }

    private static void writeLock(int fd, int cmd, long start, String path) throws Exception {
        if (Native.fcntlLock(fd, cmd, new Native.Flock(LibC.F_WRLCK, start, 1, 0), path) == null) {
            throw new IllegalStateException("lock on byte " + start + " of " + path + " is taken");
        }
    }
}
