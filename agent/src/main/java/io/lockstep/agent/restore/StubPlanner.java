package io.lockstep.agent.restore;

import io.lockstep.agent.nativeio.LibC;
import io.lockstep.agent.nativeio.Native;
import io.lockstep.agent.nativeio.NativeException;
import io.lockstep.manifest.LockHandOver;
import io.lockstep.names.RawNames;
import io.lockstep.proto.IdentityKind;
import io.lockstep.proto.FdKind;
import io.lockstep.proto.FdRecord;
import io.lockstep.proto.LockKind;
import io.lockstep.proto.LockRecord;
import io.lockstep.proto.LockType;
import io.lockstep.proto.ProcessRecord;
import io.lockstep.proto.RestartSpec;
import io.lockstep.proto.StubFd;
import io.lockstep.proto.StubLock;
import io.lockstep.proto.StubPlan;
import java.io.IOException;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Set;

/**
 * Turns a recorded process (from an untrusted manifest) into a stub plan, refusing anything a
 * stub must not be asked to do: impossible fd numbers, relative or {@code ..} paths, unknown
 * lock kinds, inverted ranges, root without permission, processes that cannot be re-launched,
 * symbolic links, files outside the agent's allowed roots. Only regular files and directories are
 * reopened; other fds (pipes, sockets, ttys) are not. Each planned file carries the identity
 * checked here, which the stub checks again on the file it opens.
 */
public final class StubPlanner {
    /** Highest fd number a manifest may name, whatever the rlimit says. */
    public static final int MAX_FD = 65535;

    /** Flags that would create or truncate a file, or close it (and its locks) on exec. */
    private static final int NEVER_ON_RESTORE = LibC.O_CREAT | LibC.O_TRUNC | LibC.O_EXCL | LibC.O_CLOEXEC;

    private final PathResolver resolver;
    private final AllowedRoots roots;
    private final long fdLimit;

    /** Fd numbers are also bounded by this process's RLIMIT_NOFILE, which the stubs inherit. */
    public StubPlanner(PathResolver resolver, AllowedRoots roots) throws NativeException {
        this(resolver, roots, Native.openFileLimit());
    }

    StubPlanner(PathResolver resolver, long fdLimit) {
        this(resolver, AllowedRoots.EVERYWHERE, fdLimit);
    }

    StubPlanner(PathResolver resolver, AllowedRoots roots, long fdLimit) {
        this.resolver = resolver;
        this.roots = roots;
        this.fdLimit = fdLimit;
    }

    public StubPlan plan(ProcessRecord process, String checkpointId, boolean allowRoot) throws PlanRefusedException {
        String who = "process " + process.getPid() + " (" + process.getComm() + ")";
        if (!process.hasRestart()) {
            throw new PlanRefusedException(who + " has no restart spec: it was not started through the agent "
                    + "and cannot be re-launched; to fix it, start that program through `agent run`, or let its parent"
                    + " `exec` it instead of forking it (then it keeps the parent's pid and restart spec); or restore"
                    + " with --skip-unrestartable to leave it out (its locks are then not taken before the release)");
        }
        RestartSpec restart = process.getRestart();
        if (restart.getArgvCount() == 0 || restart.getArgv(0).isEmpty()) {
            throw new PlanRefusedException(who + " has an empty restart command");
        }
        if (restart.getUid() == -1 || restart.getGid() == -1) {
            // setuid(-1)/setgid(-1) change nothing: the stub would stay root.
            throw new PlanRefusedException(who + " asks for uid/gid 4294967295");
        }
        if (restart.getUid() == 0 && !allowRoot) {
            throw new PlanRefusedException(who + " would run as uid 0; restoring as root needs allow-root");
        }
        for (String arg : restart.getArgvList()) {
            requireNoNul(who + " restart argument", arg);
        }
        for (Map.Entry<String, String> e : restart.getEnvMap().entrySet()) {
            if (e.getKey().isEmpty() || e.getKey().contains("=")) {
                throw new PlanRefusedException(who + " has an invalid environment name '" + RawNames.display(e.getKey()) + "'");
            }
            requireNoNul(who + " environment " + RawNames.display(e.getKey()), e.getKey() + e.getValue());
        }

        StubPlan.Builder plan = StubPlan.newBuilder().setOldPid(process.getPid()).setUid(restart.getUid())
                .setGid(restart.getGid()).setAllowRoot(allowRoot).addAllArgv(restart.getArgvList())
                .putAllEnv(restart.getEnvMap()).putAllEnv(envFile(restart, who)).setCheckpointId(checkpointId)
                .setCwd(cwd(process, who));
        Set<Integer> numbers = new HashSet<>();
        boolean freshOutputLog = false;
        for (FdRecord fd : process.getFdsList()) {
            String at = who + " fd " + fd.getFd() + " (" + RawNames.display(fd.getPath()) + ")";
            if (fd.getFd() < 0 || fd.getFd() > MAX_FD || fd.getFd() >= fdLimit) {
                throw new PlanRefusedException(at + ": fd number out of range 0.."
                        + Math.min(MAX_FD, fdLimit - 1));
            }
            if (!numbers.add(fd.getFd())) {
                throw new PlanRefusedException(at + ": fd number recorded twice");
            }
            if (fd.getKind() != FdKind.FD_REGULAR && fd.getKind() != FdKind.FD_DIRECTORY) {
                continue;
            }
            if (fd.getAgentOutput()) {
                freshOutputLog = true;
                continue;
            }
            if (fd.getOffset() < 0) {
                throw new PlanRefusedException(at + ": negative offset " + fd.getOffset());
            }
            requireSafePath(at, fd.getPath());
            if (LocalFiles.leftClosed(process, fd, resolver).isPresent()) {
                continue;
            }
            String local = resolver.resolve(fd).orElseThrow(() -> new PlanRefusedException(at
                    + ": file not found on this host (identity " + FileValidator.identityText(fd) + ")"));
            String shown = RawNames.display(local);
            requireSafePath(at + " resolved to " + shown, local);
            boolean directory = fd.getKind() == FdKind.FD_DIRECTORY;
            Native.Stat found = stat(at, local);
            if (found.isSymbolicLink()) {
                throw new PlanRefusedException(at + ": " + shown + " is a symbolic link; a restore never follows one");
            }
            if (directory ? !found.isDirectory() : !found.isRegularFile()) {
                throw new PlanRefusedException(at + ": " + shown + " is not a "
                        + (directory ? "directory" : "regular file"));
            }
            String real = roots.require(at, local);
            Native.Stat id = stat(at, real);
            // StubPlan is never serialized: its paths stay RawNames strings, which StubWire sends as bytes
            plan.addFds(StubFd.newBuilder().setFd(fd.getFd()).setKind(fd.getKind()).setPath(real)
                    .setOpenFlags(fd.getOpenFlags() & ~NEVER_ON_RESTORE).setOffset(fd.getOffset())
                    .setDev(id.dev()).setInode(id.inode()));
        }
        plan.addAllHandOverFds(LockHandOver.handedOver(process).stream().map(LockRecord::getFd).distinct().toList());
        StubPlan built = plan.setFreshOutputLog(freshOutputLog).build();
        List<LockRecord> held = process.getLocksList().stream().filter(l -> !l.getWaiting()).toList();
        lockRequests(built, held);
        return built;
    }

    /** The stub's lock requests for locks in global order, checked against the plan's fds. */
    public static List<StubLock> lockRequests(StubPlan plan, List<LockRecord> locks) throws PlanRefusedException {
        Set<Integer> restored = new HashSet<>();
        plan.getFdsList().forEach(f -> restored.add(f.getFd()));
        List<StubLock> requests = new ArrayList<>();
        long order = 0;
        for (LockRecord lock : locks) {
            String at = "process " + plan.getOldPid() + " " + lock.getKind() + " lock " + lock.getLockId()
                    + " on fd " + lock.getFd() + " range " + lock.getStart() + "-" + lock.getEnd();
            if (lock.getKind() != LockKind.POSIX && lock.getKind() != LockKind.OFD && lock.getKind() != LockKind.FLOCK) {
                throw new PlanRefusedException(at + ": lock kind " + lock.getKind() + " cannot be restored");
            }
            if (lock.getType() != LockType.READ && lock.getType() != LockType.WRITE) {
                throw new PlanRefusedException(at + ": lock type " + lock.getType() + " is neither READ nor WRITE");
            }
            if (lock.getStart() < 0 || lock.getEnd() < -1 || lock.getEnd() != -1 && lock.getEnd() < lock.getStart()) {
                throw new PlanRefusedException(at + ": invalid range");
            }
            if (!restored.contains(lock.getFd())) {
                throw new PlanRefusedException(at + ": fd " + lock.getFd() + " is not a restored file");
            }
            requests.add(StubLock.newBuilder().setFd(lock.getFd()).setKind(lock.getKind()).setType(lock.getType())
                    .setStart(lock.getStart()).setEnd(lock.getEnd()).setOrder(order++).build());
        }
        return requests;
    }

    /**
     * The recorded cwd at checkpoint, found through its identity like any directory; the
     * restart spec's cwd when the process record has none.
     */
    private String cwd(ProcessRecord process, String who) throws PlanRefusedException {
        String recorded = process.getCwd().isEmpty() ? process.getRestart().getCwd() : process.getCwd();
        requireSafePath(who + " cwd", recorded);
        FdRecord asDirectory = FdRecord.newBuilder().setFd(-1).setKind(FdKind.FD_DIRECTORY).setPath(recorded)
                .setIdentity(process.getCwdIdentity()).build();
        Optional<String> resolved = resolver.resolve(asDirectory);
        if (resolved.isEmpty() && process.getCwdIdentity().getKind() == IdentityKind.LOCAL
                && isDirectory(process.getRestart().getCwd())) {
            // Restored on another host: a local cwd cannot come along; the restart command's own does.
            resolved = Optional.of(process.getRestart().getCwd());
        }
        String local = resolved.orElseThrow(() -> new PlanRefusedException(who + " cwd " + RawNames.display(recorded)
                + " not found on this host"));
        requireSafePath(who + " cwd resolved to " + RawNames.display(local), local);
        return roots.require(who + " cwd", local);
    }

    /** The variables of the process's env file, read on this host now; none without one. */
    private Map<String, String> envFile(RestartSpec restart, String who) throws PlanRefusedException {
        if (restart.getEnvFile().isEmpty()) {
            return Map.of();
        }
        requireSafePath(who + " env file", restart.getEnvFile());
        String file = restart.getEnvFile();
        Map<String, String> variables;
        try {
            variables = EnvFile.read(file, restart.getUid());
        } catch (IOException e) {
            throw new PlanRefusedException(who + ": " + e.getMessage() + " (on this host)");
        }
        for (String name : restart.getEnvFileNamesList()) {
            if (!variables.containsKey(name)) {
                throw new PlanRefusedException(who + ": env file " + RawNames.display(file) + " no longer defines " + name
                        + ", which it did when the process was started");
            }
        }
        return variables;
    }

    private static Native.Stat stat(String what, String file) throws PlanRefusedException {
        try {
            return Native.lstat(file);
        } catch (NativeException e) {
            throw new PlanRefusedException(what + ": cannot stat " + RawNames.display(file) + ": " + e.getMessage());
        }
    }

    /** Whether {@code path} is a directory, following links. */
    private static boolean isDirectory(String path) {
        try {
            return !path.isEmpty() && Native.lstat(Native.realpath(path)).isDirectory();
        } catch (NativeException e) {
            return false;
        }
    }

    private static void requireSafePath(String what, String path) throws PlanRefusedException {
        requireNoNul(what, path);
        if (!path.startsWith("/")) {
            throw new PlanRefusedException(what + ": path '" + RawNames.display(path) + "' is not absolute");
        }
        for (String element : path.split("/")) {
            if (element.equals("..")) {
                throw new PlanRefusedException(what + ": path '" + RawNames.display(path) + "' contains '..'");
            }
        }
    }

    private static void requireNoNul(String what, String text) throws PlanRefusedException {
        if (text.indexOf('\0') >= 0) {
            throw new PlanRefusedException(what + " contains a NUL byte");
        }
    }
}
