package io.lockstep.agent.testing;

import io.lockstep.agent.nativeio.LibC;
import io.lockstep.agent.nativeio.Native;
import io.lockstep.agent.nativeio.NativeException;
import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStreamReader;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

/**
 * A child process for tests that takes real locks and then sleeps until killed. Commands, in
 * order on the command line:
 * <pre>
 *   posix-read|posix-write FILE START LEN     fcntl(F_SETLK)
 *   ofd-read|ofd-write FILE START LEN         fcntl(F_OFD_SETLK)
 *   flock-sh|flock-ex FILE                    flock(LOCK_NB)
 *   lease-read FILE                           fcntl(F_SETLEASE, F_RDLCK)
 *   posix-wait-read|posix-wait-write FILE START LEN   F_SETLKW, each on its own thread
 *   ofd-wait-read|ofd-wait-write FILE START LEN       F_OFD_SETLKW, each on its own thread
 *   flock-wait-sh|flock-wait-ex FILE                  blocking flock(), each on its own thread
 *   open-deleted FILE                         open, then unlink
 *   threads N                                 N idle threads
 *   grandchild                                another LockHolder without commands
 * </pre>
 * Prints {@code HELD <command> <fd>} per lock taken, {@code WAITING <command> <fd>} when
 * a thread is about to block, {@code THREAD <tid>}, {@code GRANDCHILD <pid>}, then {@code READY}.
 * A lock that cannot be taken prints {@code FAILED ...} and exits 2. Exits when stdin closes,
 * so a dying test never leaves it behind.
 */
public final class LockHolder {
    private static final int F_SETLEASE = 1024;

    private LockHolder() {
    }

    public static void main(String[] args) throws Exception {
        Thread stdinWatch = new Thread(() -> {
            try {
                while (System.in.read() >= 0) {
                    // drain until the parent closes our stdin
                }
            } catch (IOException ignored) {
                // parent gone either way
            }
            Runtime.getRuntime().halt(0);
        }, "stdin-watch");
        stdinWatch.setDaemon(true);
        stdinWatch.start();

        int i = 0;
        while (i < args.length) {
            String cmd = args[i++];
            switch (cmd) {
                case "posix-read", "posix-write", "ofd-read", "ofd-write" -> {
                    String file = args[i++];
                    long start = Long.parseLong(args[i++]);
                    long len = Long.parseLong(args[i++]);
                    int fd = Native.open(file, LibC.O_RDWR | LibC.O_CREAT, 0644);
                    int fcntlCmd = cmd.startsWith("ofd") ? LibC.F_OFD_SETLK : LibC.F_SETLK;
                    short type = cmd.endsWith("write") ? LibC.F_WRLCK : LibC.F_RDLCK;
                    if (Native.fcntlLock(fd, fcntlCmd, new Native.Flock(type, start, len, 0), file) == null) {
                        fail(cmd + " " + file + " " + start + " " + len);
                    }
                    say("HELD " + cmd + " " + fd);
                }
                case "flock-sh", "flock-ex" -> {
                    String file = args[i++];
                    int fd = Native.open(file, LibC.O_RDWR | LibC.O_CREAT, 0644);
                    int op = (cmd.endsWith("ex") ? LibC.LOCK_EX : LibC.LOCK_SH) | LibC.LOCK_NB;
                    if (!Native.flock(fd, op, file)) {
                        fail(cmd + " " + file);
                    }
                    say("HELD " + cmd + " " + fd);
                }
                case "lease-read" -> {
                    String file = args[i++];
                    int fd = Native.open(file, LibC.O_RDONLY, 0);
                    if (Native.libc().fcntl(fd, F_SETLEASE, LibC.F_RDLCK) != 0) {
                        fail(cmd + " " + file);
                    }
                    say("HELD " + cmd + " " + fd);
                }
                case "posix-wait-read", "posix-wait-write", "ofd-wait-read", "ofd-wait-write" -> {
                    String file = args[i++];
                    long start = Long.parseLong(args[i++]);
                    long len = Long.parseLong(args[i++]);
                    int fd = Native.open(file, LibC.O_RDWR | LibC.O_CREAT, 0644);
                    int fcntlCmd = cmd.startsWith("ofd") ? LibC.F_OFD_SETLKW : LibC.F_SETLKW;
                    short type = cmd.endsWith("write") ? LibC.F_WRLCK : LibC.F_RDLCK;
                    blockOnThread(cmd, fd, () -> Native.fcntlLock(fd, fcntlCmd, new Native.Flock(type, start, len, 0), file));
                }
                case "flock-wait-sh", "flock-wait-ex" -> {
                    String file = args[i++];
                    int fd = Native.open(file, LibC.O_RDWR | LibC.O_CREAT, 0644);
                    int op = cmd.endsWith("ex") ? LibC.LOCK_EX : LibC.LOCK_SH;
                    blockOnThread(cmd, fd, () -> Native.flock(fd, op, file));
                }
                case "open-deleted" -> {
                    String file = args[i++];
                    int fd = Native.open(file, LibC.O_RDWR | LibC.O_CREAT, 0644);
                    Files.delete(Path.of(file));
                    say("OPEN " + cmd + " " + fd);
                }
                case "threads" -> {
                    int n = Integer.parseInt(args[i++]);
                    for (int t = 0; t < n; t++) {
                        Thread thread = new Thread(() -> {
                            say("THREAD " + tid());
                            sleepForever();
                        }, "idle-" + t);
                        thread.setDaemon(true);
                        thread.start();
                    }
                }
                case "grandchild" -> {
                    Process child = new ProcessBuilder(javaCommand()).redirectErrorStream(true).start();
                    BufferedReader out = new BufferedReader(new InputStreamReader(child.getInputStream()));
                    String line;
                    while ((line = out.readLine()) != null && !line.equals("READY")) {
                        // the grandchild has no commands: READY is all it prints
                    }
                    say("GRANDCHILD " + child.pid());
                }
                default -> fail("unknown command " + cmd);
            }
        }
        say("READY");
        sleepForever();
    }

    /** The command that starts another LockHolder with the same class path. */
    public static List<String> javaCommand() {
        // lockstep.testClasspath holds only this module's classes; java.class.path brings the
        // dependencies (under surefire, a booter jar whose manifest lists them)
        String cp = System.getProperty("java.class.path");
        String own = System.getProperty("lockstep.testClasspath");
        if (own != null && !own.isEmpty()) {
            cp = own + java.io.File.pathSeparator + cp;
        }
        Path java = Path.of(System.getProperty("java.home"), "bin", "java");
        return new ArrayList<>(List.of(java.toString(), "-Xmx32m", "-XX:TieredStopAtLevel=1",
                "-cp", cp, LockHolder.class.getName()));
    }

    private interface Blocking {
        Object call() throws NativeException;
    }

    private static void blockOnThread(String cmd, int fd, Blocking call) {
        // printed before the thread starts, so that READY comes after every WAITING line
        say("WAITING " + cmd + " " + fd);
        Thread thread = new Thread(() -> {
            try {
                call.call();
                say("GOT " + cmd + " " + fd);
            } catch (NativeException e) {
                say("FAILED " + cmd + " " + e.getMessage());
            }
            sleepForever();
        }, "wait-" + cmd + "-" + fd);
        thread.setDaemon(true);
        thread.start();
    }

    private static String tid() {
        try {
            return Files.readSymbolicLink(Path.of("/proc/thread-self")).getFileName().toString();
        } catch (IOException e) {
            return "?";
        }
    }

    private static synchronized void say(String line) {
        System.out.println(line);
        System.out.flush();
    }

    private static void fail(String what) {
        say("FAILED " + what);
        System.exit(2);
    }

    private static void sleepForever() {
        while (true) {
            try {
                Thread.sleep(Long.MAX_VALUE);
            } catch (InterruptedException ignored) {
                // killed with a signal is the only way out
            }
        }
    }
}
