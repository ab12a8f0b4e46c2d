package io.lockstep.coordinator.embedded;

import io.lockstep.files.PrivateFiles;
import io.lockstep.zk.ZkConnect;

import java.io.BufferedReader;
import java.io.File;
import java.io.IOException;
import java.io.InputStreamReader;
import java.nio.channels.FileChannel;
import java.nio.channels.FileLock;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;

/**
 * The single-node ZooKeeper that makes Lockstep work on one machine with no set-up. It lives in a
 * state directory ({@code zookeeper/} data, {@code zookeeper.port}, {@code zookeeper.pid},
 * {@code zookeeper.log}) and runs as a detached background JVM ({@link EmbeddedZooKeeperMain}),
 * so it outlives the command that started it and agents can share it.
 */
public final class EmbeddedZooKeeper {
    private static final Duration PROBE_TIMEOUT = Duration.ofMillis(500);
    private static final Duration STOP_TIMEOUT = Duration.ofSeconds(15);
    private static final String SETSID = "/usr/bin/setsid";

    private final Path stateDir;
    private final Duration startTimeout;

    public EmbeddedZooKeeper(Path stateDir, Duration startTimeout) {
        this.stateDir = stateDir.toAbsolutePath();
        this.startTimeout = startTimeout;
    }

    public static Path dataDir(Path stateDir) {
        return stateDir.resolve("zookeeper");
    }

    static Path pidFile(Path stateDir) {
        return stateDir.resolve("zookeeper.pid");
    }

    public Path logFile() {
        return stateDir.resolve("zookeeper.log");
    }

    public Path stateDir() {
        return stateDir;
    }

    /** What {@code zookeeper status} reports. */
    public record Status(boolean running, Optional<Integer> port, Optional<Long> pid, Path stateDir) {
        public Optional<String> connectString() {
            return running ? port.map(ZkConnect::localConnectString) : Optional.empty();
        }
    }

    /** The outcome of {@link #ensureRunning()}: where the server is, and whether this call started it. */
    public record Running(String connectString, long pid, boolean startedNow) {
    }

    public Status status() {
        Optional<Integer> port = ZkConnect.recordedPort(stateDir);
        boolean running = port.isPresent() && ZkLoopback.answers(port.get(), PROBE_TIMEOUT);
        return new Status(running, port, running ? readPid() : Optional.empty(), stateDir);
    }

    /**
     * Uses the server recorded in the state directory if it answers, else starts one and waits
     * (bounded) until it serves. A file lock keeps two coordinators from starting two servers.
     */
    public Running ensureRunning() throws IOException {
        PrivateFiles.ownDirectory(stateDir);
        try (FileChannel lockFile = FileChannel.open(stateDir.resolve("zookeeper.lock"),
                java.util.Set.of(StandardOpenOption.CREATE, StandardOpenOption.WRITE), PrivateFiles.fileMode());
             FileLock ignored = lockFile.lock()) {
            Optional<Integer> recorded = ZkConnect.recordedPort(stateDir);
            if (recorded.isPresent() && ZkLoopback.answers(recorded.get(), PROBE_TIMEOUT)) {
                return new Running(ZkConnect.localConnectString(recorded.get()), readPid().orElse(-1L), false);
            }
            // Keep the recorded port when it is free, so that agents configured with it still find us.
            int port = recorded.filter(ZkLoopback::isFree).orElse(ZkLoopback.freePort());
            PrivateFiles.writeAtomically(stateDir.resolve(ZkConnect.PORT_FILE), (port + "\n").getBytes(StandardCharsets.UTF_8),
                    false);
            long pid = launch(port);
            return new Running(ZkConnect.localConnectString(port), pid, true);
        }
    }

    private long launch(int port) throws IOException {
        List<String> command = new ArrayList<>();
        if (Files.isExecutable(Path.of(SETSID))) {
            // A session of its own: closing the operator's terminal must not take the server down.
            command.add(SETSID);
        }
        command.add(Path.of(System.getProperty("java.home"), "bin", "java").toString());
        command.add(EmbeddedZooKeeperMain.class.getName());
        command.add("--state-dir");
        command.add(stateDir.toString());
        command.add("--port");
        command.add(Integer.toString(port));
        ProcessBuilder builder = new ProcessBuilder(command);
        // Through the environment, not -cp: keeps the server's command line short enough for the
        // JDK to report its arguments, which stop() checks before it signals a pid.
        builder.environment().put("CLASSPATH", System.getProperty("java.class.path"));
        Process process = builder
                .redirectInput(ProcessBuilder.Redirect.from(new File("/dev/null")))
                .redirectError(ProcessBuilder.Redirect.appendTo(PrivateFiles.createFileIfAbsent(logFile()).toFile()))
                .start();
        BufferedReader stdout = new BufferedReader(new InputStreamReader(process.getInputStream(), StandardCharsets.UTF_8));
        CompletableFuture<String> ready = CompletableFuture.supplyAsync(() -> {
            try {
                // Skip anything printed before READY: with both the agent and the coordinator jar on
                // the classpath, logback reports the duplicate logback.xml on stdout first.
                String out;
                while ((out = stdout.readLine()) != null && !EmbeddedZooKeeperMain.READY.equals(out)) {
                    // not our line
                }
                return out;
            } catch (IOException e) {
                return null;
            }
        });
        String line;
        try {
            line = ready.get(startTimeout.toMillis(), TimeUnit.MILLISECONDS);
        } catch (TimeoutException e) {
            process.destroyForcibly();
            throw new IOException("local ZooKeeper did not start within " + startTimeout.toMillis() + " ms; see "
                    + logFile());
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            process.destroyForcibly();
            throw new IOException("interrupted while starting the local ZooKeeper", e);
        } catch (ExecutionException e) {
            throw new IOException("cannot read the local ZooKeeper's start-up output", e.getCause());
        }
        if (!EmbeddedZooKeeperMain.READY.equals(line)) {
            throw new IOException("local ZooKeeper on 127.0.0.1:" + port + " failed to start (exit "
                    + exitCode(process) + "); see " + logFile());
        }
        stdout.close();
        return readPid().orElse(process.pid());
    }

    private static String exitCode(Process process) {
        try {
            return process.waitFor(2, TimeUnit.SECONDS) ? Integer.toString(process.exitValue()) : "none yet";
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            return "unknown";
        }
    }

    /**
     * Stops the server this state directory started, and waits until it has exited.
     *
     * @return false when none was running
     */
    public boolean stop() throws IOException {
        Optional<ProcessHandle> server = readPid().flatMap(ProcessHandle::of).filter(EmbeddedZooKeeper::isOurServer);
        if (server.isEmpty()) {
            Files.deleteIfExists(pidFile(stateDir));
            return false;
        }
        ProcessHandle process = server.get();
        process.destroy();
        try {
            process.onExit().get(STOP_TIMEOUT.toMillis(), TimeUnit.MILLISECONDS);
        } catch (TimeoutException e) {
            process.destroyForcibly();
            throw new IOException("local ZooKeeper (pid " + process.pid() + ") did not stop within "
                    + STOP_TIMEOUT.toSeconds() + " s; killed it");
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IOException("interrupted while stopping the local ZooKeeper", e);
        } catch (ExecutionException e) {
            throw new IOException("cannot wait for the local ZooKeeper to stop", e.getCause());
        }
        Files.deleteIfExists(pidFile(stateDir));
        return true;
    }

    /** A pid file can outlive its process and the pid be reused: only stop what is really our server. */
    private static boolean isOurServer(ProcessHandle process) {
        ProcessHandle.Info info = process.info();
        String mainClass = EmbeddedZooKeeperMain.class.getName();
        return info.arguments().map(args -> List.of(args).contains(mainClass)).orElse(false)
                || info.commandLine().map(line -> line.contains(" " + mainClass + " ")).orElse(false);
    }

    private Optional<Long> readPid() {
        try {
            return Optional.of(Long.parseLong(Files.readString(pidFile(stateDir), StandardCharsets.UTF_8).trim()));
        } catch (NoSuchFileException | NumberFormatException none) {
            return Optional.empty();
        } catch (IOException e) {
            throw new IllegalStateException("cannot read " + pidFile(stateDir) + ": " + e.getMessage(), e);
        }
    }
}
