package io.lockstep.bench.harness;

import io.lockstep.agent.cgroup.GroupCgroup;
import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStreamReader;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;

/**
 * A child JVM started inside a group through the group's entry command, with this JVM's class path.
 * The child prints {@code READY} once set up and exits when its stdin closes, so it cannot outlive
 * a bench that dies without running its clean-up (unless frozen; the cgroup kill covers that).
 */
public final class ChildJvm {
    private final Process process;
    private final BufferedReader out;
    private final List<String> lines = Collections.synchronizedList(new ArrayList<>());

    private ChildJvm(Process process) {
        this.process = process;
        this.out = new BufferedReader(new InputStreamReader(process.getInputStream(), StandardCharsets.UTF_8));
    }

    static ChildJvm startIn(GroupCgroup group, Class<?> main, List<String> jvmOptions, List<String> args)
            throws IOException {
        List<String> command = new ArrayList<>(group.entryCommand());
        command.add(Path.of(System.getProperty("java.home"), "bin", "java").toString());
        command.addAll(jvmOptions);
        command.addAll(List.of("-cp", System.getProperty("java.class.path"), main.getName()));
        command.addAll(args);
        return new ChildJvm(new ProcessBuilder(command).redirectErrorStream(true).start());
    }

    public long pid() {
        return process.pid();
    }

    void awaitReady(Duration timeout) throws IOException {
        CompletableFuture<Boolean> ready = CompletableFuture.supplyAsync(this::readUntilReady);
        try {
            if (!ready.get(timeout.toMillis(), TimeUnit.MILLISECONDS)) {
                throw new IOException("child " + pid() + " ended before READY: " + lines);
            }
        } catch (TimeoutException e) {
            throw new IOException("child " + pid() + " not READY within " + timeout + ": " + lines, e);
        } catch (ExecutionException e) {
            throw new IOException("child " + pid() + " output unreadable: " + e.getCause(), e);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IOException("interrupted waiting for child " + pid(), e);
        }
    }

    private boolean readUntilReady() {
        try {
            String line;
            while ((line = out.readLine()) != null) {
                if (line.equals("READY")) {
                    return true;
                }
                lines.add(line);
            }
            return false;
        } catch (IOException e) {
            return false;
        }
    }

    void awaitExit(Duration timeout) throws IOException {
        try {
            if (!process.waitFor(timeout.toMillis(), TimeUnit.MILLISECONDS)) {
                throw new IOException("child " + pid() + " not reaped within " + timeout);
            }
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IOException("interrupted reaping child " + pid(), e);
        }
    }

    void destroy() {
        process.destroyForcibly();
    }
}
