package io.lockstep.agent.server;

import io.grpc.Status;
import io.lockstep.agent.hooks.HookFailedException;
import io.lockstep.agent.hooks.HookRunner;
import io.lockstep.agent.hooks.HookedProcess;
import io.lockstep.agent.restore.EnvFile;
import io.lockstep.agent.restore.StubBinary;
import io.lockstep.files.PrivateFiles;
import io.lockstep.proto.HooksReply;
import io.lockstep.proto.HooksRequest;
import io.lockstep.proto.OpContext;
import io.lockstep.proto.RestartSpec;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.io.File;
import java.io.IOException;
import java.io.OutputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeMap;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.TimeUnit;

/**
 * This host's part of the application hooks around a checkpoint (docs/DESIGN.md, "Application
 * hooks"): the RunHooks round the coordinator sends before it arms any freeze, and after the
 * decision, once this host's group is thawed, the post-thaw notification.
 */
final class CheckpointHooks implements AutoCloseable {
    private static final Logger LOG = LoggerFactory.getLogger(CheckpointHooks.class);
    /** How often a notification whose decision came while the group is still frozen looks again: the thaw follows at once. */
    private static final long THAW_RECHECK_MILLIS = 10;

    private final CheckpointParts parts;
    private final AgentConfig config;
    private final ExecutorService hookThreads;
    private final HookRunner runner;
    private StubBinary stub;

    CheckpointHooks(CheckpointParts parts) {
        this.parts = parts;
        this.config = parts.config();
        this.hookThreads = Executors.newCachedThreadPool(runnable -> {
            Thread thread = new Thread(runnable, "lockstep-hook-" + config.hostId());
            thread.setDaemon(true);
            return thread;
        });
        this.runner = new HookRunner(config.hostId(), hooksDir(config), this::launch, hookThreads);
    }

    /**
     * Where signal hooks' request and acknowledgement files live: beside the agent's local socket
     * ({@code /run/lockstep/hooks}), which programs of every uid can reach; without a socket under
     * the state directory, which only root's programs can.
     */
    static Path hooksDir(AgentConfig config) {
        return config.socket().map(socket -> socket.resolveSibling("hooks")).orElse(config.stateDir().resolve("hooks"));
    }

    HooksReply run(HooksRequest request) throws Exception {
        OpContext op = request.getCtx();
        HooksReply.Builder reply = HooksReply.newBuilder().setHostId(config.hostId());
        ManagedGroup group = parts.groups().find(op.getGroup()).orElse(null);
        List<HookedProcess> hooked = group == null ? List.of() : hooked(group);
        if (hooked.isEmpty()) {
            // Nothing runs, so nothing to fence: no ZooKeeper read either (the arm admits the op).
            return reply.build();
        }
        // A stale or decided op must not make programs flush (as a first Freeze would refuse it).
        parts.admission().admitNew(op);
        long start = System.nanoTime();
        try {
            runner.preFreeze(op.getOpId(), hooked);
        } catch (HookFailedException e) {
            parts.metrics().hookFailed(HookRunner.PRE_FREEZE);
            LOG.warn("group {} op {} host {}: {}", op.getGroup(), op.getOpId(), config.hostId(), e.getMessage());
            throw Status.ABORTED.withDescription(e.getMessage()).asRuntimeException();
        } finally {
            // Whatever the hooks answered, the programs learn the outcome: the decision, or ABORT
            // written by this watch once the op's owner is gone or its time passed.
            Duration bound = Duration.ofMillis(Math.max(request.getTimeoutMs(), 0)).plus(config.sessionTimeout());
            new OpWatch(parts.zk(), parts.layout(), op, config.hostId(), config.sessionTimeout(), parts.timer(), false,
                    verdict -> verdict.decision().ifPresentOrElse(
                            decision -> notifyOnceThawed(group, op, decision.isCommit() ? "COMMIT" : "ABORT", hooked),
                            () -> LOG.warn("group {} op {}: no decision known ({}); no post-thaw notification",
                                    op.getGroup(), op.getOpId(), verdict.reason())))
                    .start(bound);
        }
        LOG.info("group {} op {} host {}: {} pre-freeze hooks ready", op.getGroup(), op.getOpId(), config.hostId(),
                hooked.size());
        return reply.setHooks(hooked.size()).setHooksMicros((System.nanoTime() - start) / 1000).build();
    }

    private static List<HookedProcess> hooked(ManagedGroup group) throws IOException {
        Set<Integer> pids = group.cgroup().pids();
        List<HookedProcess> hooked = new ArrayList<>();
        new TreeMap<>(group.specs().forPids(pids)).forEach((pid, spec) -> {
            if (RestartSpecs.hooked(spec)) {
                hooked.add(new HookedProcess(group.name(), pid, spec));
            }
        });
        return hooked;
    }

    /** The decision stands; the notification waits for this host's thaw (which follows a decision at once). */
    private void notifyOnceThawed(ManagedGroup group, OpContext op, String outcome, List<HookedProcess> hooked) {
        synchronized (group) {
            FrozenState state = group.frozen();
            if (state != null && state.op().getOpId().equals(op.getOpId())) {
                parts.timer().schedule(() -> notifyOnceThawed(group, op, outcome, hooked), THAW_RECHECK_MILLIS, TimeUnit.MILLISECONDS);
                return;
            }
        }
        LOG.info("group {} op {} host {}: {}; post-thaw hooks of {} processes", op.getGroup(), op.getOpId(),
                config.hostId(), outcome, hooked.size());
        runner.postThaw(op.getOpId(), outcome, hooked, failure -> parts.metrics().hookFailed(HookRunner.POST_THAW));
    }

    /** As the program was started (GroupProcesses.run): the stub's exec mode drops to its uid/gid and chdirs; not in its cgroup. */
    private Process launch(HookedProcess process, String command, Map<String, String> extraEnv) throws IOException {
        RestartSpec spec = process.spec();
        if (spec.getUid() == 0 && spec.getGid() == 0 && !config.allowRoot()) {
            throw new IOException("refusing to run a hook as root (the agent runs without --allow-root)");
        }
        Map<String, String> environment = new TreeMap<>(spec.getEnvMap());
        if (!spec.getEnvFile().isEmpty()) {
            environment.putAll(EnvFile.read(spec.getEnvFile(), spec.getUid()));
        }
        environment.putAll(extraEnv);
        List<String> argv = new ArrayList<>(PrivateFiles.inheritedUmaskPrefix());
        argv.addAll(List.of(stub().path().toString(), "--exec", Integer.toUnsignedString(spec.getUid()),
                Integer.toUnsignedString(spec.getGid())));
        ProcessBuilder builder = new ProcessBuilder(argv).directory(new File("/"));
        builder.environment().clear();
        Path log = spec.getOutputLog().isEmpty() ? null : Path.of(spec.getOutputLog());
        // The hook's output goes where the program's does, so an operator finds both in one place.
        builder.redirectErrorStream(true).redirectOutput(log != null && Files.isRegularFile(log)
                ? ProcessBuilder.Redirect.appendTo(log.toFile()) : ProcessBuilder.Redirect.DISCARD);
        Process started = builder.start();
        try (OutputStream in = started.getOutputStream()) {
            in.write(GroupProcesses.execSpec(spec.getCwd().isEmpty() ? "/" : spec.getCwd(),
                    List.of("/bin/sh", "-c", command), environment));
        } catch (IOException e) {
            started.destroyForcibly();
            throw new IOException("cannot hand the hook command to its process: " + e.getMessage(), e);
        }
        return started;
    }

    private synchronized StubBinary stub() throws IOException {
        if (stub == null) {
            stub = StubBinary.installed(config.stateDir());
        }
        return stub;
    }

    @Override
    public void close() {
        hookThreads.shutdownNow();
    }
}
