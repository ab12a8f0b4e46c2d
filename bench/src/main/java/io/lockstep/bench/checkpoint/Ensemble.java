package io.lockstep.bench.checkpoint;

import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStreamReader;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.Deque;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;

/** The parent's handle on an {@link EnsembleMain} child: its connect string, and close to stop it. */
final class Ensemble implements AutoCloseable {
    private static final Duration START_TIMEOUT = Duration.ofMinutes(2);
    private static final Duration STOP_TIMEOUT = Duration.ofSeconds(30);
    private static final int KEPT_LINES = 40;

    private final Process process;
    private final String connectString;
    private final Deque<String> lastLines;

    private Ensemble(Process process, String connectString, Deque<String> lastLines) {
        this.process = process;
        this.connectString = connectString;
        this.lastLines = lastLines;
    }

    static Ensemble start() throws IOException {
        List<String> command = new ArrayList<>(List.of(Path.of(System.getProperty("java.home"), "bin", "java").toString(),
                "-Xmx1g", "-cp", System.getProperty("java.class.path"), EnsembleMain.class.getName()));
        Process process = new ProcessBuilder(command).redirectErrorStream(true).start();
        Deque<String> lastLines = new ArrayDeque<>();
        BufferedReader out = new BufferedReader(new InputStreamReader(process.getInputStream(), StandardCharsets.UTF_8));
        CompletableFuture<String> connect = CompletableFuture.supplyAsync(() -> readUntilReady(out, lastLines));
        try {
            String connectString = connect.get(START_TIMEOUT.toMillis(), TimeUnit.MILLISECONDS);
            if (connectString == null) {
                throw new IOException("ZooKeeper ensemble JVM ended before READY: " + lines(lastLines));
            }
            // ZooKeeper keeps logging: drain it, or the child blocks on a full pipe
            Thread drain = new Thread(() -> drain(out, lastLines), "ensemble-output");
            drain.setDaemon(true);
            drain.start();
            return new Ensemble(process, connectString, lastLines);
        } catch (InterruptedException | ExecutionException | TimeoutException | IOException e) {
            process.destroyForcibly();
            if (e instanceof InterruptedException) {
                Thread.currentThread().interrupt();
            }
            throw new IOException("ZooKeeper ensemble JVM not READY within " + START_TIMEOUT + ": " + lines(lastLines), e);
        }
    }

    String connectString() {
        return connectString;
    }

    long pid() {
        return process.pid();
    }

    private static String readUntilReady(BufferedReader out, Deque<String> lastLines) {
        String connect = null;
        try {
            String line;
            while ((line = out.readLine()) != null) {
                if (line.equals("READY")) {
                    return connect;
                }
                if (line.startsWith("CONNECT ")) {
                    connect = line.substring("CONNECT ".length());
                }
                keep(lastLines, line);
            }
        } catch (IOException e) {
            keep(lastLines, "output unreadable: " + e);
        }
        return null;
    }

    private static void drain(BufferedReader out, Deque<String> lastLines) {
        try {
            String line;
            while ((line = out.readLine()) != null) {
                keep(lastLines, line);
            }
        } catch (IOException e) {
            // the child is gone
        }
    }

    private static void keep(Deque<String> lastLines, String line) {
        synchronized (lastLines) {
            lastLines.addLast(line);
            if (lastLines.size() > KEPT_LINES) {
                lastLines.removeFirst();
            }
        }
    }

    private static String lines(Deque<String> lastLines) {
        synchronized (lastLines) {
            return String.join("\n", lastLines);
        }
    }

    /** Closes the child's stdin (it stops its servers and deletes their data) and waits for it. */
    @Override
    public void close() throws IOException {
        process.getOutputStream().close();
        try {
            if (!process.waitFor(STOP_TIMEOUT.toMillis(), TimeUnit.MILLISECONDS)) {
                process.destroyForcibly();
                throw new IOException("ZooKeeper ensemble JVM did not stop within " + STOP_TIMEOUT
                        + " (killed; its data directories may be left in the temp dir): " + lines(lastLines));
            }
        } catch (InterruptedException e) {
            process.destroyForcibly();
            Thread.currentThread().interrupt();
        }
    }
}
