package io.lockstep.agent.restore;

import io.lockstep.agent.nativeio.LibC;
import io.lockstep.agent.nativeio.Native;
import io.lockstep.agent.nativeio.NativeException;
import io.lockstep.proto.FdKind;
import io.lockstep.proto.FromStub;
import io.lockstep.proto.StubFd;
import io.lockstep.proto.StubPlan;
import io.lockstep.proto.StubStatus;
import io.lockstep.proto.ToStub;
import java.io.File;
import java.io.IOException;
import java.net.UnixDomainSocketAddress;
import java.nio.channels.SocketChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.HashMap;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.BlockingQueue;
import java.util.concurrent.LinkedBlockingQueue;

/**
 * The restore stub: one process per restored process. It reopens the recorded files at their
 * recorded fd numbers (over the placeholders {@link StubLauncher} put there), takes the
 * recorded locks when told, and finally becomes the restarted program by execve, keeping its
 * pid, fds and locks.
 *
 * <p>Only the JDK, protobuf and jnr-ffi are on its path, to start fast. After it connected it
 * never writes to stdout or stderr: fds 0-2 may be restored files of the application.
 */
public final class RestoreStub {
    static final int EXIT_ABORTED = 0;
    static final int EXIT_AGENT_LOST = 3;
    static final int EXIT_STAGE_FAILED = 4;
    static final int EXIT_PROTOCOL = 5;
    static final int EXIT_EXEC_FAILED = 6;

    static final String DEFAULT_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

    private static final int OPEN_FLAGS_NEVER_ON_RESTORE =
            LibC.O_CREAT | LibC.O_TRUNC | LibC.O_EXCL | LibC.O_CLOEXEC;

    private final StubChannel channel;
    private final BlockingQueue<ToStub> inbox = new LinkedBlockingQueue<>();
    private int pid;

    private RestoreStub(StubChannel channel) {
        this.channel = channel;
    }

    public static void main(String[] args) {
        if (args.length != 1) {
            System.err.println("usage: RestoreStub CONTROL_SOCKET");
            Runtime.getRuntime().halt(EXIT_PROTOCOL);
        }
        // Binding libc through jnr-ffi is the slowest part of start-up: do it while the main
        // thread connects and decodes the plan.
        Thread warmUp = new Thread(Native::getpid, "lockstep-stub-warm-up");
        warmUp.setDaemon(true);
        warmUp.start();
        SocketChannel socket;
        try {
            socket = SocketChannel.open(UnixDomainSocketAddress.of(args[0]));
        } catch (IOException e) {
            System.err.println("lockstep restore stub: cannot connect to " + args[0] + ": " + e);
            Runtime.getRuntime().halt(EXIT_AGENT_LOST);
            return;
        }
        new RestoreStub(new StubChannel(socket)).run();
    }

    private void run() {
        startReader();
        try {
            pid = Native.getpid();
            ToStub first = inbox.take();
            if (!first.hasPlan()) {
                reply(failed(-1, "", "expected a plan first, got " + first.getMsgCase()));
                Runtime.getRuntime().halt(EXIT_PROTOCOL);
            }
            StubPlan plan = first.getPlan();
            Staged staged = stage(plan);
            reply(staged.reply());
            if (staged.reply().getStatus() != StubStatus.STUB_STAGED) {
                Runtime.getRuntime().halt(EXIT_STAGE_FAILED);
            }
            LockRound locks = new LockRound(staged.pathByFd(), pid);
            while (true) {
                ToStub message = inbox.take();
                if (message.hasPrepare()) {
                    reply(locks.prepare(message.getPrepare()));
                    if (locks.mustExit()) {
                        Runtime.getRuntime().halt(EXIT_STAGE_FAILED);
                    }
                } else if (message.hasRelease()) {
                    exec(plan, staged);
                } else {
                    reply(failed(-1, "", "unexpected " + message.getMsgCase() + " after staging"));
                    Runtime.getRuntime().halt(EXIT_PROTOCOL);
                }
            }
        } catch (Throwable t) {
            try {
                reply(failed(-1, "", "restore stub pid " + pid + " failed: " + t));
            } catch (IOException | RuntimeException ignored) {
                // The agent is gone or the channel broken: exiting is all that is left.
            }
            Runtime.getRuntime().halt(EXIT_PROTOCOL);
        }
    }

    /**
     * Reads the agent's messages on its own thread so that a lost agent ends the stub at once,
     * even while the main thread waits for a lock. It stops reading after RELEASE: the agent may
     * close the channel while the main thread is in execve, and that must not kill the program.
     */
    private void startReader() {
        Thread reader = new Thread(() -> {
            try {
                while (true) {
                    ToStub message = channel.read();
                    if (message == null) {
                        Runtime.getRuntime().halt(EXIT_AGENT_LOST);
                    }
                    if (message.hasRelease() && !message.getRelease().getCommit()) {
                        // Abort at once, even while the main thread waits for a lock.
                        Runtime.getRuntime().halt(EXIT_ABORTED);
                    }
                    inbox.put(message);
                    if (message.hasRelease()) {
                        return;
                    }
                }
            } catch (Throwable t) {
                Runtime.getRuntime().halt(EXIT_AGENT_LOST);
            }
        }, "lockstep-stub-reader");
        reader.setDaemon(true);
        reader.start();
    }

    private record Staged(FromStub reply, Map<Integer, String> pathByFd, String executable) {
    }

    private Staged stage(StubPlan plan) {
        Map<Integer, String> pathByFd = new LinkedHashMap<>();
        if (plan.getUid() == 0 && !plan.getAllowRoot()) {
            return new Staged(failed(-1, "", "the plan runs process " + plan.getOldPid()
                    + " as uid 0, but root is not allowed"), pathByFd, null);
        }
        if (plan.getArgvCount() == 0) {
            return new Staged(failed(-1, "", "the plan of process " + plan.getOldPid()
                    + " has no restart command"), pathByFd, null);
        }
        StubFd current = null;
        try {
            for (StubFd f : plan.getFdsList()) {
                current = f;
                Native.getFdFlags(f.getFd()); // throws EBADF when StubLauncher put no placeholder there
            }
            current = null;
            // Open every jar of the class path, and load the stub's own classes from a class
            // directory, while root can still read them: after the drop, a jar or class file under
            // a private directory (/root/.m2) would be unreadable. No enum switches in the stub's
            // path for the same reason: each compiles to a helper class loaded on first use.
            ClassLoader.getSystemClassLoader().getResource("lockstep-open-all-jars");
            preload(LockRound.class, ProcLocks.class, ProcLocks.Entry.class, Staged.class, Native.FileId.class);
            if (Native.geteuid() != plan.getUid() || Native.getegid() != plan.getGid()) {
                Native.dropPrivileges(plan.getUid(), plan.getGid());
            }
            // Files are opened as the restored user, so the manifest grants no access it lacks.
            for (StubFd f : plan.getFdsList()) {
                current = f;
                reopen(f);
                pathByFd.put(f.getFd(), f.getPath());
            }
            current = null;
            Native.chdir(plan.getCwd());
            String executable = executable(plan);
            return new Staged(FromStub.newBuilder().setStatus(StubStatus.STUB_STAGED).setPid(pid).build(),
                    pathByFd, executable);
        } catch (NativeException | IllegalArgumentException e) {
            int fd = current == null ? -1 : current.getFd();
            String path = current == null ? plan.getCwd() : current.getPath();
            String where = current == null ? "" : "fd " + fd + " (" + path + "): ";
            return new Staged(failed(fd, path, where + e.getMessage()), pathByFd, null);
        }
    }

    private static void preload(Class<?>... classes) {
        for (Class<?> c : classes) {
            c.getName();
        }
    }

    /** Opens the file with its recorded flags, seeks, and moves it onto its number. */
    private static void reopen(StubFd f) throws NativeException {
        boolean directory = f.getKind() == FdKind.FD_DIRECTORY;
        int flags = (f.getOpenFlags() & ~OPEN_FLAGS_NEVER_ON_RESTORE) | (directory ? LibC.O_DIRECTORY : 0);
        int temporary = Native.open(f.getPath(), flags | LibC.O_NOFOLLOW, 0);
        if (f.getDev() != 0 || f.getInode() != 0) {
            Native.FileId opened = Native.fileId(temporary, f.getPath());
            if (opened.dev() != f.getDev() || opened.inode() != f.getInode()) {
                Native.close(temporary);
                throw new IllegalArgumentException("file changed since the agent checked it: expected dev "
                        + f.getDev() + " inode " + f.getInode() + ", opened dev " + opened.dev() + " inode "
                        + opened.inode() + " (swapped or replaced)");
            }
        }
        // A directory's offset is a readdir cookie of the old open: meaningless on a new one.
        if (!directory && f.getOffset() != 0) {
            Native.lseek(temporary, f.getOffset(), f.getPath());
        }
        Native.dup2(temporary, f.getFd(), f.getPath());
        Native.close(temporary);
    }

    /** execve does not search PATH: resolve the command now, so a bad one fails before any lock. */
    private static String executable(StubPlan plan) {
        String command = plan.getArgv(0);
        if (command.contains("/")) {
            return command;
        }
        for (String dir : plan.getEnvOrDefault("PATH", DEFAULT_PATH).split(":")) {
            Path candidate = Path.of(dir.isEmpty() ? "." : dir, command);
            if (Files.isRegularFile(candidate) && Files.isExecutable(candidate)) {
                return candidate.toString();
            }
        }
        throw new IllegalArgumentException("restart command " + command + " not found in PATH");
    }

    /** Marks every fd but the restored ones and 0-2 close-on-exec, then becomes the program. */
    private void exec(StubPlan plan, Staged staged) throws IOException {
        Set<Integer> keep = new HashSet<>(staged.pathByFd().keySet());
        keep.addAll(List.of(0, 1, 2));
        String[] open = new File("/proc/self/fd").list();
        for (String name : open == null ? new String[0] : open) {
            int fd = Integer.parseInt(name);
            if (keep.contains(fd)) {
                continue;
            }
            try {
                Native.setCloseOnExec(fd, true);
            } catch (NativeException e) {
                if (e.errno() != LibC.EBADF) { // EBADF: the directory stream that listed it, closed since
                    throw e;
                }
            }
        }
        Map<String, String> env = new HashMap<>(plan.getEnvMap());
        env.put("LOCKSTEP_RESTORED", "1");
        env.put("LOCKSTEP_CHECKPOINT", plan.getCheckpointId());
        String[] envp = env.entrySet().stream().map(e -> e.getKey() + "=" + e.getValue()).toArray(String[]::new);
        try {
            Native.execve(staged.executable(), plan.getArgvList().toArray(new String[0]), envp);
        } catch (NativeException e) {
            reply(failed(-1, staged.executable(), "execve of the restart command failed: " + e.getMessage()));
            Runtime.getRuntime().halt(EXIT_EXEC_FAILED);
        }
    }

    private void reply(FromStub message) throws IOException {
        channel.write(message);
    }

    private FromStub failed(int fd, String path, String message) {
        return FromStub.newBuilder().setStatus(StubStatus.STUB_FAILED).setPid(pid).setFd(fd).setPath(path)
                .setMessage(message).build();
    }
}
