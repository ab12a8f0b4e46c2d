package io.lockstep.agent.testing;

import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStreamReader;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;
import java.util.concurrent.BlockingQueue;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.TimeUnit;

/** A running {@link LockHolder}, with its output lines as they come. Close kills it and its descendants. */
public final class Child implements AutoCloseable {
    private static final long LINE_TIMEOUT_SECONDS = 60;

    private final Process process;
    private final BlockingQueue<String> lines = new LinkedBlockingQueue<>();
    private final List<String> seen = new ArrayList<>();

    private Child(Process process) {
        this.process = process;
        Thread reader = new Thread(() -> {
            try (BufferedReader out = new BufferedReader(new InputStreamReader(process.getInputStream(), StandardCharsets.UTF_8))) {
                String line;
                while ((line = out.readLine()) != null) {
                    lines.add(line);
                }
            } catch (IOException ignored) {
                // the child was killed
            }
            lines.add("EXITED");
        }, "child-" + process.pid() + "-stdout");
        reader.setDaemon(true);
        reader.start();
    }

    public static Child start(String... commands) throws IOException {
        List<String> cmd = LockHolder.javaCommand();
        cmd.addAll(List.of(commands));
        return new Child(new ProcessBuilder(cmd).redirectErrorStream(true).start());
    }

    public int pid() {
        return (int) process.pid();
    }

    public Process process() {
        return process;
    }

    /** Reads lines up to the first starting with {@code prefix}; fails on FAILED, exit or timeout. */
    public String awaitLine(String prefix) throws InterruptedException {
        while (true) {
            String line = lines.poll(LINE_TIMEOUT_SECONDS, TimeUnit.SECONDS);
            if (line == null || line.equals("EXITED") || line.startsWith("FAILED")) {
                throw new AssertionError("child " + pid() + " did not print '" + prefix + "' ("
                        + (line == null ? "timeout" : line) + "); output so far: " + seen);
            }
            seen.add(line);
            if (line.startsWith(prefix)) {
                return line;
            }
        }
    }

    /** Every line up to READY that starts with {@code prefix}. */
    public List<String> linesUntilReady(String prefix) throws InterruptedException {
        int from = seen.size();
        awaitLine("READY");
        return seen.subList(from, seen.size()).stream().filter(l -> l.startsWith(prefix)).toList();
    }

    /** The first line starting with {@code prefix}: one already read, else the next such line. */
    public String line(String prefix) throws InterruptedException {
        Optional<String> earlier = seen.stream().filter(l -> l.startsWith(prefix)).findFirst();
        return earlier.isPresent() ? earlier.get() : awaitLine(prefix);
    }

    /** The fd number of the n-th (0-based) HELD/WAITING/OPEN line seen so far for {@code command}. */
    public int fdOf(String command, int n) {
        List<String> matching = seen.stream().filter(l -> l.split(" ").length > 2 && l.split(" ")[1].equals(command)).toList();
        return Integer.parseInt(matching.get(n).split(" ")[2]);
    }

    public void kill() throws InterruptedException {
        process.descendants().forEach(ProcessHandle::destroyForcibly);
        process.destroyForcibly();
        process.waitFor(30, TimeUnit.SECONDS);
    }

    @Override
    public void close() throws InterruptedException {
        kill();
    }
}
