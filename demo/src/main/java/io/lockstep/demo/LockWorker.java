package io.lockstep.demo;

import io.lockstep.agent.nativeio.LibC;
import io.lockstep.agent.nativeio.Native;
import io.lockstep.agent.nativeio.NativeException;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CountDownLatch;

/**
 * A sample application process for the demonstration and the tests: it runs a script of steps
 * that open files at fixed descriptor numbers, take and release POSIX, OFD and flock locks,
 * append to shared files, and wait. Restored by Lockstep it is started again with the same
 * steps: descriptors it finds already open (restored, with their locks) are kept, which is how
 * an application cooperates with the {@code exec} restart engine.
 *
 * <pre>
 * fd N FILE                      make fd N refer to FILE (kept as it is when restored: it may have moved)
 * lock KIND TYPE N START LEN     take a lock, waiting for it (KIND posix|ofd|flock, TYPE read|write)
 * unlock KIND N START LEN        release it
 * expect-held N START LEN        log whether another process holds the range (F_GETLK)
 * append FILE TEXT               append "TEXT pid=P restored=R" as one line
 * ready                          print "READY pid" on stdout
 * await-file PATH                wait until PATH exists
 * tick FILE                      forever: write an increasing counter to FILE
 * keep-appending MS FILE TEXT    forever: every MS milliseconds append "TEXT N pid=P restored=R" (N counts up)
 * threads N                      start N idle threads
 * child                          start a child process that sleeps (a grandchild of the agent)
 * sleep                          wait until killed
 * </pre>
 */
public final class LockWorker {
    private final boolean restored = "1".equals(System.getenv("LOCKSTEP_RESTORED"));
    private final List<Process> children = new ArrayList<>();

    public static void main(String[] args) throws Exception {
        new LockWorker().run(List.of(args));
    }

    void run(List<String> args) throws Exception {
        int i = 0;
        while (i < args.size()) {
            String step = args.get(i);
            int arity = arity(step);
            if (i + arity >= args.size()) {
                throw new IllegalArgumentException("step '" + step + "' needs " + arity + " arguments");
            }
            List<String> a = args.subList(i + 1, i + 1 + arity);
            i += 1 + arity;
            execute(step, a);
        }
    }

    private static int arity(String step) {
        return switch (step) {
            case "fd", "append" -> 2;
            case "lock" -> 5;
            case "unlock" -> 4;
            case "expect-held", "keep-appending" -> 3;
            case "await-file", "tick", "threads" -> 1;
            case "ready", "child", "sleep" -> 0;
            default -> throw new IllegalArgumentException("unknown step '" + step + "'");
        };
    }

    private void execute(String step, List<String> a) throws Exception {
        switch (step) {
            case "fd" -> ensureFd(Integer.parseInt(a.get(0)), a.get(1));
            case "lock" -> lock(a.get(0), a.get(1), Integer.parseInt(a.get(2)), Long.parseLong(a.get(3)), Long.parseLong(a.get(4)));
            case "unlock" -> unlock(a.get(0), Integer.parseInt(a.get(1)), Long.parseLong(a.get(2)), Long.parseLong(a.get(3)));
            case "expect-held" -> expectHeld(Integer.parseInt(a.get(0)), Long.parseLong(a.get(1)), Long.parseLong(a.get(2)));
            case "append" -> append(Path.of(a.get(0)), a.get(1));
            case "ready" -> {
                System.out.println("READY " + ProcessHandle.current().pid());
                System.out.flush();
            }
            case "await-file" -> awaitFile(Path.of(a.get(0)));
            case "tick" -> tick(Path.of(a.get(0)));
            case "keep-appending" -> keepAppending(Long.parseLong(a.get(0)), Path.of(a.get(1)), a.get(2));
            case "threads" -> startThreads(Integer.parseInt(a.get(0)));
            case "child" -> children.add(new ProcessBuilder("sleep", "infinity").start());
            case "sleep" -> new CountDownLatch(1).await();
            default -> throw new IllegalArgumentException("unknown step '" + step + "'");
        }
    }

    /**
     * Keeps an inherited fd that already refers to FILE; otherwise opens FILE onto fd N. An fd
     * in use for something else (the JVM keeps its jars at low numbers) is refused, not replaced:
     * use numbers well above them (500 and up: a JVM with a long class path opens a jar per entry).
     */
    private void ensureFd(int fd, String file) throws IOException {
        Path link = Path.of("/proc/self/fd", Integer.toString(fd));
        if (Files.exists(link, java.nio.file.LinkOption.NOFOLLOW_LINKS)) {
            Path target = Files.readSymbolicLink(link);
            if (restored) {
                // Lockstep reopened it by identity; on another host it may live under another path.
                return;
            }
            if (Files.exists(Path.of(file)) && Files.isSameFile(target, Path.of(file))) {
                return;
            }
            throw new IllegalStateException("fd " + fd + " is already in use for " + target + ", not " + file);
        }
        int opened = Native.open(file, LibC.O_RDWR | LibC.O_CREAT, 0666);
        if (opened != fd) {
            Native.dup2(opened, fd, file);
            Native.close(opened);
        }
    }

    private static short type(String type) {
        return switch (type) {
            case "read" -> LibC.F_RDLCK;
            case "write" -> LibC.F_WRLCK;
            default -> throw new IllegalArgumentException("lock type must be read or write, not " + type);
        };
    }

    private static void lock(String kind, String type, int fd, long start, long len) throws NativeException {
        String what = "fd " + fd;
        switch (kind) {
            case "posix" -> Native.fcntlLock(fd, LibC.F_SETLKW, new Native.Flock(type(type), start, len, 0), what);
            case "ofd" -> Native.fcntlLock(fd, LibC.F_OFD_SETLKW, new Native.Flock(type(type), start, len, 0), what);
            case "flock" -> Native.flock(fd, type.equals("read") ? LibC.LOCK_SH : LibC.LOCK_EX, what);
            default -> throw new IllegalArgumentException("lock kind must be posix, ofd or flock, not " + kind);
        }
    }

    private static void unlock(String kind, int fd, long start, long len) throws NativeException {
        String what = "fd " + fd;
        switch (kind) {
            case "posix" -> Native.fcntlLock(fd, LibC.F_SETLK, new Native.Flock(LibC.F_UNLCK, start, len, 0), what);
            case "ofd" -> Native.fcntlLock(fd, LibC.F_OFD_SETLK, new Native.Flock(LibC.F_UNLCK, start, len, 0), what);
            case "flock" -> Native.flock(fd, LibC.LOCK_UN, what);
            default -> throw new IllegalArgumentException("lock kind must be posix, ofd or flock, not " + kind);
        }
    }

    /** Logs to stdout whether a conflicting write lock on the range would be refused, and by whom. */
    private static void expectHeld(int fd, long start, long len) throws NativeException {
        Native.Flock answer = Native.fcntlLock(fd, LibC.F_GETLK, new Native.Flock(LibC.F_WRLCK, start, len, 0), "fd " + fd);
        String holder = answer.type() == LibC.F_UNLCK ? "none" : Integer.toString(answer.pid());
        System.out.println("HELD-BY " + holder);
        System.out.flush();
    }

    private void append(Path file, String text) throws IOException {
        String line = text + " pid=" + ProcessHandle.current().pid() + " restored=" + (restored ? 1 : 0) + "\n";
        Files.write(file, line.getBytes(StandardCharsets.UTF_8), StandardOpenOption.CREATE, StandardOpenOption.APPEND,
                StandardOpenOption.WRITE);
    }

    private void keepAppending(long millis, Path file, String text) throws IOException, InterruptedException {
        for (long n = 1; ; n++) {
            append(file, text + " " + n);
            Thread.sleep(millis);
        }
    }

    private static void awaitFile(Path path) throws InterruptedException {
        // Polling is fine here: the worker is a sample application, not part of Lockstep's protocol.
        while (!Files.exists(path)) {
            Thread.sleep(10);
        }
    }

    private static void tick(Path file) throws IOException {
        long counter = 0;
        while (true) {
            Files.writeString(file, Long.toString(++counter));
        }
    }

    private static void startThreads(int count) {
        for (int t = 0; t < count; t++) {
            Thread thread = new Thread(() -> {
                try {
                    new CountDownLatch(1).await();
                } catch (InterruptedException e) {
                    Thread.currentThread().interrupt();
                }
            }, "idle-" + t);
            thread.setDaemon(true);
            thread.start();
        }
    }
}
