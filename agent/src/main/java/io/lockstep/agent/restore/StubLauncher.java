package io.lockstep.agent.restore;

import io.lockstep.files.PrivateFiles;
import io.lockstep.proto.StubPlan;
import java.io.File;
import java.io.IOException;
import java.net.StandardProtocolFamily;
import java.net.UnixDomainSocketAddress;
import java.nio.channels.SelectionKey;
import java.nio.channels.Selector;
import java.nio.channels.ServerSocketChannel;
import java.nio.channels.SocketChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;
import java.util.concurrent.TimeoutException;

/**
 * Starts restore stubs: {@code <enter-group prefix> lockstep-stub SOCKET} (see {@link StubBinary}).
 * ProcessBuilder closes every fd above 2 in the child, so the stub starts with nothing but fds
 * 0-2: /dev/null, and for 1 and 2 the plan's fresh output file or the restore log, unless the
 * plan restores them. The stub puts its own placeholders on the numbers it restores.
 *
 * <p>Each stub gets its own socket in a fresh 0700 directory under {@code socketRoot}; the
 * socket is removed as soon as the stub connected, so nothing else can talk to the stub.
 */
public final class StubLauncher {
    /** sun_path is 108 bytes including the terminating NUL. */
    private static final int MAX_SOCKET_PATH = 107;

    private final StubBinary binary;
    private final Path socketRoot;
    private final List<String> enterGroupPrefix;
    private final Optional<Path> stdioLog;
    private final Path outputLogDir;

    /**
     * @param enterGroupPrefix command that puts the stub into the group's cgroup and then execs
     *     the rest of its arguments; empty to start the stub where the agent runs
     * @param stdioLog where the stub's fds 1 and 2 go when the plan does not restore them;
     *     empty for /dev/null
     * @param outputLogDir where a plan's fresh output file ({@link OutputLogs}) is created
     */
    public StubLauncher(StubBinary binary, Path socketRoot, List<String> enterGroupPrefix, Optional<Path> stdioLog,
                        Path outputLogDir) {
        this.binary = binary;
        this.socketRoot = socketRoot;
        this.enterGroupPrefix = List.copyOf(enterGroupPrefix);
        this.stdioLog = stdioLog;
        this.outputLogDir = outputLogDir;
    }

    /** Starts a stub for the plan and waits, up to the deadline, until it connected. */
    public StubHandle launch(StubPlan plan, Instant deadline) throws StubException {
        Path dir;
        try {
            PrivateFiles.createDirectories(socketRoot);
            dir = Files.createTempDirectory(socketRoot, "stub",
                    PosixFilePermissions.asFileAttribute(PosixFilePermissions.fromString("rwx------")));
        } catch (IOException e) {
            throw new StubException(-1, "cannot create a control socket directory under " + socketRoot
                    + " for the stub of process " + plan.getOldPid(), e);
        }
        Path socket = dir.resolve("control");
        try {
            if (socket.toString().length() > MAX_SOCKET_PATH) {
                throw new StubException(-1, -1, socket.toString(), "control socket path " + socket
                        + " is longer than " + MAX_SOCKET_PATH + " bytes; use a shorter socket root");
            }
            try (ServerSocketChannel server = ServerSocketChannel.open(StandardProtocolFamily.UNIX);
                 Selector selector = Selector.open()) {
                server.bind(UnixDomainSocketAddress.of(socket));
                server.configureBlocking(false);
                server.register(selector, SelectionKey.OP_ACCEPT);
                Optional<Path> outputLog = plan.getFreshOutputLog()
                        ? Optional.of(OutputLogs.create(outputLogDir, plan.getUid(), plan.getGid())) : Optional.empty();
                Process process;
                try {
                    process = start(plan, socket, outputLog);
                } catch (IOException | RuntimeException e) {
                    if (outputLog.isPresent()) {
                        Files.deleteIfExists(outputLog.get());
                    }
                    throw e;
                }
                try {
                    process.onExit().thenRun(selector::wakeup);
                    Optional<Path> named = outputLog.isPresent()
                            ? Optional.of(OutputLogs.name(outputLog.get(), (int) process.pid())) : Optional.empty();
                    AgentChannel channel = new AgentChannel(accept(server, selector, process, plan, deadline));
                    try {
                        channel.receiveHello(deadline);
                    } catch (IOException | TimeoutException e) {
                        channel.close();
                        throw new StubException((int) process.pid(), -1, "", "restore stub pid " + process.pid()
                                + " for process " + plan.getOldPid() + " did not say HELLO: "
                                + (e instanceof TimeoutException ? "deadline passed" : e.getMessage()));
                    }
                    return new StubHandle(process, channel, plan, named);
                } catch (IOException | RuntimeException e) {
                    process.destroyForcibly(); // a stub without its channel must not linger
                    throw e;
                }
            }
        } catch (StubException e) {
            throw e;
        } catch (IOException e) {
            throw new StubException(-1, "cannot start the restore stub of process " + plan.getOldPid()
                    + " (control socket " + socket + "): " + e.getMessage(), e);
        } finally {
            try {
                Files.deleteIfExists(socket);
                Files.deleteIfExists(dir);
            } catch (IOException ignored) {
                // A leftover empty directory under the socket root holds no secret and no process.
            }
        }
    }

    private Process start(StubPlan plan, Path socket, Optional<Path> outputLog) throws IOException {
        ProcessBuilder builder = new ProcessBuilder(command(socket));
        builder.directory(new File("/")); // the stub chdirs to the plan's cwd; until then it pins nothing
        builder.environment().clear();

        builder.redirectInput(ProcessBuilder.Redirect.from(new File("/dev/null")));
        Optional<Path> stdio = outputLog.or(() -> stdioLog);
        if (stdio.isPresent()) {
            builder.redirectOutput(ProcessBuilder.Redirect.appendTo(stdio.get().toFile()));
            builder.redirectErrorStream(true);
        } else {
            builder.redirectOutput(ProcessBuilder.Redirect.DISCARD);
            builder.redirectError(ProcessBuilder.Redirect.DISCARD);
        }
        return builder.start();
    }

    List<String> command(Path socket) {
        List<String> command = new ArrayList<>(enterGroupPrefix);
        command.addAll(List.of(binary.path().toString(), socket.toString()));
        return command;
    }

    private static SocketChannel accept(ServerSocketChannel server, Selector selector, Process process,
                                        StubPlan plan, Instant deadline) throws IOException {
        while (true) {
            SocketChannel connection = server.accept();
            if (connection != null) {
                return connection;
            }
            if (!process.isAlive()) {
                throw new StubException((int) process.pid(), -1, "", "restore stub pid " + process.pid()
                        + " for process " + plan.getOldPid() + " exited with code " + process.exitValue()
                        + " before it connected");
            }
            long left = Duration.between(Instant.now(), deadline).toMillis();
            if (left <= 0) {
                throw new StubException((int) process.pid(), -1, "", "restore stub pid " + process.pid()
                        + " for process " + plan.getOldPid() + " did not connect before its deadline");
            }
            selector.select(left);
            selector.selectedKeys().clear();
        }
    }
}
