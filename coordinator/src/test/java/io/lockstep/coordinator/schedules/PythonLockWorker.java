package io.lockstep.coordinator.schedules;

import java.nio.file.Path;
import java.util.List;

/**
 * The schedules' holder and waiter: what {@code LockWorker fd N FILE lock KIND write N 0 10 ready sleep}
 * does, as a python3 program. A restore restarts every worker of the group, and a held-back waiter
 * is released only once its restarted holder locked again: a worker JVM took 5-12 s to get there
 * under load, python3 (isolated, without site) takes milliseconds. The steps, the fd numbers and the
 * READY line are LockWorker's, so the schedules check the same application:
 *
 * <ul>
 *   <li>fd N refers to FILE: kept when restored (Lockstep reopened it by identity) or when it is
 *       FILE already; opened onto N otherwise; refused when N is open for something else;</li>
 *   <li>a write lock of the drawn kind on bytes 0-9 (POSIX {@code F_SETLKW}, OFD {@code F_OFD_SETLKW},
 *       {@code flock LOCK_EX}), waiting for it;</li>
 *   <li>{@code READY <pid>} on stdout, then it waits until killed.</li>
 * </ul>
 */
final class PythonLockWorker {
    private static final String PYTHON = "/usr/bin/python3";
    private static final String PROGRAM = String.join("\n",
            "import fcntl, os, signal, struct, sys",
            "fd, path, kind = int(sys.argv[1]), sys.argv[2], sys.argv[3]",
            "try:",
            "    inherited = os.fstat(fd)",
            "except OSError:",
            "    inherited = None",
            "if inherited is None:",
            "    opened = os.open(path, os.O_RDWR | os.O_CREAT, 0o666)",
            "    if opened != fd:",
            "        os.dup2(opened, fd)",
            "        os.close(opened)",
            "elif os.environ.get('LOCKSTEP_RESTORED') != '1' and not os.path.samestat(inherited, os.stat(path)):",
            "    sys.exit('fd %d is already in use for %s, not %s' % (fd, os.readlink('/proc/self/fd/%d' % fd), path))",
            "write_lock = struct.pack('hh4xqqi4x', fcntl.F_WRLCK, os.SEEK_SET, 0, 10, 0)",
            "if kind == 'posix':",
            "    fcntl.fcntl(fd, fcntl.F_SETLKW, write_lock)",
            "elif kind == 'ofd':",
            "    fcntl.fcntl(fd, fcntl.F_OFD_SETLKW, write_lock)",
            "elif kind == 'flock':",
            "    fcntl.flock(fd, fcntl.LOCK_EX)",
            "else:",
            "    sys.exit('lock kind must be posix, ofd or flock, not ' + kind)",
            "print('READY %d' % os.getpid(), flush=True)",
            "while True:",
            "    signal.pause()");

    private PythonLockWorker() {
    }

    /** The command line of a worker that makes {@code fd} refer to {@code file} and takes a write lock of {@code kind} on it. */
    static List<String> command(String fd, Path file, String kind) {
        return List.of(PYTHON, "-I", "-S", "-c", PROGRAM, fd, file.toString(), kind);
    }

    /** A worker's command line as a failure message shows it: without the program text. */
    static String shortened(String cmdline) {
        return cmdline.replace(PROGRAM, "<lock worker>");
    }
}
