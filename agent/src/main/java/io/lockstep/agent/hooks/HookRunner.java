package io.lockstep.agent.hooks;

import io.lockstep.agent.nativeio.Native;
import io.lockstep.proto.Hook;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.io.IOException;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.Executor;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.locks.LockSupport;
import java.util.function.Consumer;

/**
 * Runs the hooks of a group's processes on this host: before any host freezes, each process's
 * command and/or signal, all at once, each bounded by its own timeout; after the decision, the
 * same again as a notification that nobody waits for.
 */
public final class HookRunner {
    private static final Logger LOG = LoggerFactory.getLogger(HookRunner.class);
    public static final Duration DEFAULT_TIMEOUT = Duration.ofSeconds(10);
    public static final String PRE_FREEZE = "pre-freeze";
    public static final String POST_THAW = "post-thaw";
    /** How often a signal hook's acknowledgement file is looked at. */
    private static final long ACK_POLL_NANOS = TimeUnit.MILLISECONDS.toNanos(5);

    private final String hostId;
    private final Path hooksDir;
    private final HookLauncher launcher;
    private final Executor executor;

    public HookRunner(String hostId, Path hooksDir, HookLauncher launcher, Executor executor) {
        this.hostId = hostId;
        this.hooksDir = hooksDir;
        this.launcher = launcher;
        this.executor = executor;
    }

    public static Duration timeout(Hook hook) {
        return hook.getTimeoutMs() > 0 ? Duration.ofMillis(hook.getTimeoutMs()) : DEFAULT_TIMEOUT;
    }

    /**
     * Every process's pre-freeze hook, in parallel; returns when each answered ready.
     *
     * @throws HookFailedException naming each process whose hook failed, timed out or was not acknowledged
     */
    public void preFreeze(String checkpointId, List<HookedProcess> processes) throws HookFailedException, InterruptedException {
        Map<HookedProcess, CompletableFuture<Optional<String>>> running = new LinkedHashMap<>();
        for (HookedProcess process : processes) {
            running.put(process, CompletableFuture.supplyAsync(() -> run(process, checkpointId, PRE_FREEZE, null), executor));
        }
        List<String> failures = new ArrayList<>();
        for (Map.Entry<HookedProcess, CompletableFuture<Optional<String>>> entry : running.entrySet()) {
            try {
                entry.getValue().get().ifPresent(failures::add);
            } catch (ExecutionException e) {
                failures.add(entry.getKey().describe() + ": " + e.getCause());
            }
        }
        if (!failures.isEmpty()) {
            // The gRPC answer gains "host H: RunHooks: " (GrpcErrors).
            throw new HookFailedException("the pre-freeze hook of " + String.join("; of ", failures)
                    + "; checkpoint " + checkpointId + " aborts before any host froze");
        }
    }

    /** The notification after the decision, once this host thawed: started, never waited for; a failure is logged and counted. */
    public void postThaw(String checkpointId, String outcome, List<HookedProcess> processes, Consumer<String> onFailure) {
        for (HookedProcess process : processes.stream().sorted(Comparator.comparingInt(HookedProcess::pid)).toList()) {
            CompletableFuture.runAsync(() -> run(process, checkpointId, POST_THAW, outcome).ifPresent(failure -> {
                String message = "host " + hostId + ": the post-thaw hook (" + outcome + ") of " + failure;
                LOG.warn("group {} op {}: {}", process.group(), checkpointId, message);
                onFailure.accept(message);
            }), executor);
        }
    }

    /** @return what went wrong, starting with the process's description; empty when ready */
    private Optional<String> run(HookedProcess process, String checkpointId, String kind, String outcome) {
        Hook hook = process.hook();
        Duration timeout = timeout(hook);
        long deadline = System.nanoTime() + timeout.toNanos();
        Map<String, String> variables = new LinkedHashMap<>();
        variables.put("LOCKSTEP_HOOK", kind);
        variables.put("LOCKSTEP_CHECKPOINT", checkpointId);
        variables.put("LOCKSTEP_PID", Integer.toString(process.pid()));
        variables.put("LOCKSTEP_GROUP", process.group());
        if (outcome != null) {
            variables.put("LOCKSTEP_OUTCOME", outcome);
        }
        try {
            if (!hook.getCommand().isEmpty()) {
                Optional<String> failed = command(process, hook.getCommand(), variables, timeout, deadline);
                if (failed.isPresent() || hook.getSignal() == 0) {
                    return failed;
                }
            }
            if (hook.getSignal() != 0) {
                return signal(process, hook, checkpointId, variables, timeout, deadline, outcome == null);
            }
            return Optional.empty();
        } catch (IOException e) {
            return Optional.of(process.describe() + " could not be run: " + e.getMessage());
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            return Optional.of(process.describe() + " was interrupted (the agent stops)");
        }
    }

    private Optional<String> command(HookedProcess process, String command, Map<String, String> variables, Duration timeout,
                                     long deadline) throws IOException, InterruptedException {
        Process started = launcher.start(process, command, variables);
        if (!started.waitFor(Math.max(0, deadline - System.nanoTime()), TimeUnit.NANOSECONDS)) {
            // The shell's children too: a hook that hangs must not outlive its checkpoint.
            started.descendants().forEach(ProcessHandle::destroyForcibly);
            started.destroyForcibly();
            return Optional.of(process.describe() + " timed out after " + timeout.toMillis() + " ms: `" + command + "`");
        }
        int status = started.exitValue();
        if (status != 0) {
            return Optional.of(process.describe() + " failed: `" + command + "` exited with status " + status);
        }
        return Optional.empty();
    }

    private Optional<String> signal(HookedProcess process, Hook hook, String checkpointId, Map<String, String> variables,
                                    Duration timeout, long deadline, boolean awaitAck) throws IOException {
        AckChannel channel = AckChannel.of(hooksDir, process.group(), hook.getAckId());
        String told = process.spec().getEnvMap().get(AckChannel.ACK_VARIABLE);
        if (!channel.ack().toString().equals(told)) {
            // Restored onto a host whose agent keeps its hooks elsewhere: the program would answer where nobody looks.
            return Optional.of(process.describe() + " cannot answer " + HookSignals.name(hook.getSignal()) + ": its "
                    + AckChannel.ACK_VARIABLE + " is " + told + ", but this agent's hooks directory is " + hooksDir);
        }
        // A restored program's host may not have its directory yet.
        channel.prepare(process.spec().getUid(), process.spec().getGid());
        Map<String, String> request = new LinkedHashMap<>(variables);
        // The program sources the request: a pre-freeze request must not keep the last outcome.
        request.putIfAbsent("LOCKSTEP_OUTCOME", "");
        channel.post(request, process.spec().getUid(), process.spec().getGid());
        String signal = HookSignals.name(hook.getSignal());
        if (!Native.kill(process.pid(), hook.getSignal())) {
            return Optional.of(process.describe() + " is gone: " + signal + " found no process");
        }
        if (!awaitAck) {
            return Optional.empty();
        }
        while (!channel.acknowledged(checkpointId)) {
            if (System.nanoTime() - deadline >= 0) {
                return Optional.of(process.describe() + " did not acknowledge " + signal + " within " + timeout.toMillis()
                        + " ms: " + channel.ack() + " (" + AckChannel.ACK_VARIABLE + ") does not hold " + checkpointId);
            }
            if (ProcessHandle.of(process.pid()).filter(ProcessHandle::isAlive).isEmpty()) {
                return Optional.of(process.describe() + " exited before it acknowledged " + signal);
            }
            LockSupport.parkNanos(ACK_POLL_NANOS);
        }
        return Optional.empty();
    }
}
