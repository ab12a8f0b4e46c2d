package io.lockstep.agent.server;

import io.grpc.Status;
import io.lockstep.agent.hooks.AckChannel;
import io.lockstep.agent.hooks.HookRunner;
import io.lockstep.agent.hooks.HookSignals;
import io.lockstep.agent.restore.EnvFile;
import io.lockstep.agent.restore.OutputLogs;
import io.lockstep.agent.restore.StubBinary;
import io.lockstep.names.RawNames;
import io.lockstep.names.RecordedNames;
import io.lockstep.files.PrivateFiles;
import io.lockstep.proto.AdoptReply;
import io.lockstep.proto.AdoptRequest;
import io.lockstep.proto.Hook;
import io.lockstep.proto.RestartSpec;
import io.lockstep.proto.RunReply;
import io.lockstep.proto.RunRequest;
import io.lockstep.proto.StopReply;
import io.lockstep.proto.StopRequest;
import io.lockstep.agent.nativeio.Native;
import io.lockstep.agent.nativeio.NativeException;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.io.ByteArrayOutputStream;
import java.io.File;
import java.io.IOException;
import java.io.OutputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeMap;
import java.util.TreeSet;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.locks.LockSupport;

/**
 * Puts processes into groups: {@code agent run} starts a command inside the group's cgroup and
 * records how to start it again; {@code adopt} moves a running process (and its descendants) in
 * and records its command line, cwd and environment from /proc as its restart spec.
 */
public final class GroupProcesses {
    private static final Logger LOG = LoggerFactory.getLogger(GroupProcesses.class);
    private static final int SIGTERM = 15;
    private static final long STOP_POLL_NANOS = TimeUnit.MILLISECONDS.toNanos(20);
    /** How long the SIGKILL round of a stop may take before the stop is reported as failed. */
    private static final Duration KILL_TIMEOUT = Duration.ofSeconds(10);
    /** The entry command is a shell that writes its pid into cgroup.procs before it execs the command. */
    private static final Duration ENTRY_TIMEOUT = Duration.ofSeconds(10);
    private static final long ENTRY_POLL_NANOS = 1_000_000;

    private final GroupRegistry groups;
    private final AgentRegistration registration;
    private final boolean allowRoot;
    private final Path stateDir;
    private final Path hooksDir;
    private StubBinary stub;

    public GroupProcesses(GroupRegistry groups, AgentRegistration registration, boolean allowRoot, Path stateDir,
                          Path hooksDir) {
        this.groups = groups;
        this.registration = registration;
        this.allowRoot = allowRoot;
        this.stateDir = stateDir;
        this.hooksDir = hooksDir;
    }

    public RunReply run(RunRequest wire) throws IOException {
        RunRequest request = RecordedNames.inflate(wire);
        if (request.getArgvCount() == 0) {
            throw Status.INVALID_ARGUMENT.withDescription("run: no command given").asRuntimeException();
        }
        Map<String, String> recorded = new HashMap<>(request.getEnvMap());
        Map<String, String> fromFile = Map.of();
        if (!request.getEnvFile().isEmpty()) {
            try {
                fromFile = EnvFile.read(request.getEnvFile(), request.getUid());
            } catch (IOException e) {
                throw Status.FAILED_PRECONDITION.withDescription("run: " + e.getMessage()).asRuntimeException();
            }
            // A variable the file defines is never recorded, even when the caller's environment has it too.
            recorded.keySet().removeAll(fromFile.keySet());
        }
        ManagedGroup group = groups.open(request.getGroup());
        Hook hook = request.hasHook() ? checkedHook("run", request.getHook()) : null;
        AckChannel channel = hook != null && hook.getSignal() != 0 ? AckChannel.of(hooksDir, group.name(), hook.getAckId()) : null;
        if (channel != null) {
            // The channel's paths are recorded with the environment: a restored program keeps them.
            recorded.putAll(channel.environment());
        }
        RestartSpec.Builder specBuilder = RestartSpec.newBuilder()
                .addAllArgv(request.getArgvList())
                .setCwd(request.getCwd().isEmpty() ? "/" : request.getCwd())
                .putAllEnv(recorded)
                .setEnvFile(request.getEnvFile())
                .addAllEnvFileNames(new TreeSet<>(fromFile.keySet()))
                .setUid(request.getUid())
                .setGid(request.getGid());
        if (hook != null) {
            specBuilder.setHook(hook);
        }
        RestartSpec spec = specBuilder.build();
        requireRootAllowed(spec.getUid(), spec.getGid());
        requireDirectory(spec.getCwd());
        if (channel != null) {
            channel.prepare(spec.getUid(), spec.getGid());
        }
        List<String> command = new ArrayList<>(group.cgroup().entryCommand());
        // The agent's umask is 077; the application gets the one the agent was started with.
        command.addAll(PrivateFiles.inheritedUmaskPrefix());
        // Names are bytes: ProcessBuilder would pass argv, environment and cwd through the JVM's
        // charset, so the stub's exec mode gets them as bytes on its stdin, drops to uid/gid and execs.
        command.addAll(List.of(stub().path().toString(), "--exec", Integer.toUnsignedString(spec.getUid()),
                Integer.toUnsignedString(spec.getGid())));
        Path logs = groups.logDir(group.name());
        ProcessBuilder builder = new ProcessBuilder(command).directory(new File("/"));
        builder.environment().clear();
        Map<String, String> environment = new TreeMap<>(spec.getEnvMap());
        environment.putAll(fromFile);
        Path log = OutputLogs.create(logs, spec.getUid(), spec.getGid());
        builder.redirectErrorStream(true).redirectOutput(ProcessBuilder.Redirect.appendTo(log.toFile()));
        Process process = builder.start();
        try (OutputStream in = process.getOutputStream()) {
            in.write(execSpec(spec.getCwd(), spec.getArgvList(), environment));
        } catch (IOException e) {
            process.destroyForcibly();
            throw new IOException("group " + group.name() + ": cannot hand the command to the starting process: "
                    + e.getMessage(), e);
        }
        int pid = (int) process.pid();
        // A pid set (SIGSTOP backend) has no entry command: the process joins right after it starts.
        if (group.cgroup().entryCommand().isEmpty()) {
            group.cgroup().addProcess(pid);
        }
        Path named = OutputLogs.name(log, pid);
        group.specs().put(pid, spec.toBuilder().setOutputLog(named.toString()).build());
        awaitInCgroup(group, process);
        joinBeforeReplying(group.name());
        LOG.info("group {}: started pid {}: {}", group.name(), pid, RawNames.display(spec.getArgv(0))
                + (spec.getArgvCount() > 1 ? " … (" + spec.getArgvCount() + " args)" : ""));
        return RunReply.newBuilder().setPid(pid).build();
    }

    /** A hook as `agent run`/`adopt` asked for it, with a signal hook's channel id; refused when it can never answer. */
    private static Hook checkedHook(String rpc, Hook requested) {
        if (requested.getCommand().isEmpty() && requested.getSignal() == 0) {
            throw Status.INVALID_ARGUMENT.withDescription(rpc + ": a hook needs a command or a signal").asRuntimeException();
        }
        if (requested.getTimeoutMs() < 0) {
            throw Status.INVALID_ARGUMENT.withDescription(rpc + ": hook timeout " + requested.getTimeoutMs()
                    + " ms is negative").asRuntimeException();
        }
        Hook.Builder hook = requested.toBuilder();
        if (requested.getSignal() != 0) {
            try {
                HookSignals.check(requested.getSignal());
            } catch (IllegalArgumentException e) {
                throw Status.INVALID_ARGUMENT.withDescription(rpc + ": hook " + e.getMessage()).asRuntimeException();
            }
            hook.setAckId(AckChannel.newId());
        } else {
            hook.clearAckId();
        }
        if (requested.getTimeoutMs() == 0) {
            hook.setTimeoutMs(HookRunner.DEFAULT_TIMEOUT.toMillis());
        }
        return hook.build();
    }

    /**
     * Once `agent run`/`adopt` returns, a checkpoint must see this host as a member: otherwise one
     * started right after would leave the host out (or find no participants at all).
     */
    private void joinBeforeReplying(String group) {
        if (!registration.join(group)) {
            LOG.warn("group {}: membership node of this host not created (ZooKeeper unreachable?); "
                    + "it is created once ZooKeeper answers", group);
        }
    }

    /**
     * The entry command puts the process into the cgroup itself, a moment after it started. The
     * membership is joined only after that, so that the membership sweep, which ends the
     * membership of a group without processes, cannot take a group whose process is on its way in.
     */
    private static void awaitInCgroup(ManagedGroup group, Process process) throws IOException {
        long end = System.nanoTime() + ENTRY_TIMEOUT.toNanos();
        while (process.isAlive() && !group.cgroup().pids().contains((int) process.pid())) {
            if (System.nanoTime() - end > 0) {
                throw new IOException("group " + group.name() + ": pid " + process.pid() + " did not enter "
                        + group.cgroup() + " within " + ENTRY_TIMEOUT.toMillis() + " ms");
            }
            LockSupport.parkNanos(ENTRY_POLL_NANOS);
        }
    }

    private void requireRootAllowed(int uid, int gid) {
        if (uid == 0 && gid == 0 && !allowRoot) {
            throw Status.PERMISSION_DENIED.withDescription("refusing to run a group command as root: pass a uid/gid, "
                    + "or start the agent with --allow-root").asRuntimeException();
        }
    }

    /** The program chdirs in its own process; a cwd that is not there is the caller's error, said now. */
    private static void requireDirectory(String cwd) {
        try {
            if (!Native.lstat(Native.realpath(cwd)).isDirectory()) {
                throw Status.FAILED_PRECONDITION.withDescription("run: working directory " + RawNames.display(cwd)
                        + " is not a directory").asRuntimeException();
            }
        } catch (NativeException e) {
            throw Status.FAILED_PRECONDITION.withDescription("run: working directory " + RawNames.display(cwd) + ": "
                    + e.getMessage()).asRuntimeException();
        }
    }

    private synchronized StubBinary stub() throws IOException {
        if (stub == null) {
            stub = StubBinary.installed(stateDir);
        }
        return stub;
    }

    /** What the stub's exec mode reads: NUL-terminated cwd, argc, argv, envc, NAME=value entries. */
    static byte[] execSpec(String cwd, List<String> argv, Map<String, String> env) {
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        field(out, cwd);
        field(out, Integer.toString(argv.size()));
        argv.forEach(arg -> field(out, arg));
        field(out, Integer.toString(env.size()));
        env.forEach((name, value) -> field(out, name + "=" + value));
        return out.toByteArray();
    }

    private static void field(ByteArrayOutputStream out, String name) {
        byte[] bytes = RawNames.encode(name);
        for (byte b : bytes) {
            if (b == 0) {
                throw Status.INVALID_ARGUMENT.withDescription("run: " + RawNames.display(name) + " contains a NUL byte")
                        .asRuntimeException();
            }
        }
        out.writeBytes(bytes);
        out.write(0);
    }

    /**
     * Ends the group's processes on this host ({@code restore --replace}): SIGTERM to each, and
     * SIGKILL to whatever is left after the grace period. Refused while an operation has the
     * group frozen or staged.
     */
    public StopReply stop(StopRequest request, String hostId) throws IOException {
        ManagedGroup group = groups.find(request.getGroup()).orElse(null);
        StopReply.Builder reply = StopReply.newBuilder().setHostId(hostId);
        if (group == null) {
            return reply.build();
        }
        synchronized (group) {
            if (group.frozen() != null || group.restore() != null) {
                throw Status.FAILED_PRECONDITION.withDescription("group " + group.name() + " on host " + hostId
                        + " is in an operation (" + (group.frozen() != null ? group.frozen().op().getOpId()
                        : group.restore().op().getOpId()) + "): not stopping its processes").asRuntimeException();
            }
        }
        Set<Integer> running = group.cgroup().pids();
        for (int pid : running) {
            Native.kill(pid, SIGTERM);
        }
        long graceEnd = System.nanoTime() + TimeUnit.MILLISECONDS.toNanos(Math.max(0, request.getGraceMs()));
        Set<Integer> left = group.cgroup().pids();
        while (!left.isEmpty() && System.nanoTime() < graceEnd) {
            LockSupport.parkNanos(STOP_POLL_NANOS);
            left = group.cgroup().pids();
        }
        if (!left.isEmpty() && !group.cgroup().killAll(KILL_TIMEOUT)) {
            throw Status.INTERNAL.withDescription("group " + group.name() + " on host " + hostId + ": pids "
                    + group.cgroup().pids() + " survived SIGKILL for " + KILL_TIMEOUT.toSeconds() + " s").asRuntimeException();
        }
        for (int pid : running) {
            if (left.contains(pid)) {
                reply.addKilled(pid);
            } else {
                reply.addTerminated(pid);
            }
        }
        LOG.info("group {}: stopped pids {} (SIGTERM), {} (SIGKILL after {} ms)", group.name(), reply.getTerminatedList(),
                reply.getKilledList(), request.getGraceMs());
        return reply.build();
    }

    public AdoptReply adopt(AdoptRequest request) throws IOException, InterruptedException {
        int root = request.getPid();
        Path proc = Path.of("/proc", Integer.toString(root));
        if (!Files.isDirectory(proc)) {
            throw Status.NOT_FOUND.withDescription("adopt: no process " + root).asRuntimeException();
        }
        Hook hook = request.hasHook() ? checkedHook("adopt", request.getHook()) : null;
        ManagedGroup group = groups.open(request.getGroup());
        // The hook is the adopted program's (the root of the tree), as `agent run` gives it to the program it starts.
        RestartSpec rootSpec = specFromProc(root);
        AckChannel channel = null;
        if (hook != null) {
            RestartSpec.Builder hooked = rootSpec.toBuilder().setHook(hook);
            if (hook.getSignal() != 0) {
                channel = AckChannel.of(hooksDir, group.name(), hook.getAckId());
                // Recorded with the environment: a restored program finds the files there; this one is told below.
                hooked.putAllEnv(channel.environment());
                channel.prepare(rootSpec.getUid(), rootSpec.getGid());
            }
            rootSpec = hooked.build();
        }
        Set<Integer> tree = descendants(root);
        for (int pid : tree) {
            group.cgroup().addProcess(pid);
            group.specs().put(pid, pid == root ? rootSpec : specFromProc(pid));
        }
        joinBeforeReplying(group.name());
        LOG.info("group {}: adopted pid {} with {} processes{}", group.name(), root, tree.size(),
                hook == null ? "" : ", with its pre-freeze hook");
        AdoptReply.Builder reply = AdoptReply.newBuilder().setPid(root).setTasks(tree.size());
        if (channel != null) {
            reply.setHookRequest(channel.request().toString()).setHookAck(channel.ack().toString());
        }
        return reply.build();
    }

    static Set<Integer> descendants(int root) throws IOException {
        Set<Integer> all = new TreeSet<>();
        List<Integer> todo = new ArrayList<>(List.of(root));
        while (!todo.isEmpty()) {
            int pid = todo.remove(todo.size() - 1);
            if (!all.add(pid)) {
                continue;
            }
            Path tasks = Path.of("/proc", Integer.toString(pid), "task");
            if (!Files.isDirectory(tasks)) {
                continue;
            }
            try (var threads = Files.list(tasks)) {
                for (Path task : (Iterable<Path>) threads::iterator) {
                    Path children = task.resolve("children");
                    if (Files.exists(children)) {
                        for (String child : Files.readString(children).trim().split("\\s+")) {
                            if (!child.isEmpty()) {
                                todo.add(Integer.parseInt(child));
                            }
                        }
                    }
                }
            }
        }
        return all;
    }

    private static RestartSpec specFromProc(int pid) throws IOException {
        Path proc = Path.of("/proc", Integer.toString(pid));
        // names are bytes: cmdline, environ and the cwd link are read raw, never through a charset
        RestartSpec.Builder spec = RestartSpec.newBuilder()
                .addAllArgv(RawNames.splitNul(Files.readAllBytes(proc.resolve("cmdline"))))
                .setCwd(Native.readlink(proc.resolve("cwd").toString()));
        for (String entry : RawNames.splitNul(Files.readAllBytes(proc.resolve("environ")))) {
            int eq = entry.indexOf('=');
            if (eq > 0) {
                spec.putEnv(entry.substring(0, eq), entry.substring(eq + 1));
            }
        }
        for (String line : RawNames.decode(Files.readAllBytes(proc.resolve("status"))).lines().toList()) {
            if (line.startsWith("Uid:")) {
                spec.setUid(Integer.parseInt(line.split("\\s+")[1]));
            } else if (line.startsWith("Gid:")) {
                spec.setGid(Integer.parseInt(line.split("\\s+")[1]));
            }
        }
        return spec.build();
    }
}
