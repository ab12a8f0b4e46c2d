package io.lockstep.agent.server;

import io.grpc.Status;
import io.grpc.StatusRuntimeException;
import io.lockstep.names.RawNames;
import io.lockstep.proto.AdoptRequest;
import io.lockstep.proto.GroupStatus;
import io.lockstep.proto.RunRequest;
import io.lockstep.proto.StatusReply;
import io.lockstep.proto.StatusRequest;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.util.List;
import java.util.OptionalInt;
import java.util.Set;

/**
 * Who may call what on the agent; every rule is here (README "Security" is this class in prose).
 *
 * <ul>
 *   <li>Operation RPCs (RunHooks, Freeze, Capture, Thaw, Abort, Validate, RollBack, Stage, Prepare, Release, Stop
 *       of restore --replace, and DeleteSnapshots of retention): a
 *       coordinator over mutual TLS whose certificate is on the agent's allowed list, or root on
 *       the local socket.</li>
 *   <li>Run and Adopt: callers on the local socket. One that is not root acts only as its own
 *       uid/gid and only in groups it owns (the uid that created a group owns it); only root may
 *       name another uid; uid 0 additionally needs the agent's --allow-root.</li>
 *   <li>Status: the coordinator, and local callers; one that is not root sees only its own groups.</li>
 *   <li>Plaintext TCP is anonymous: it gets none of these (only the health and reflection services,
 *       which this policy does not guard) unless the agent runs with --insecure-plaintext, which
 *       treats it as root.</li>
 * </ul>
 */
final class AccessPolicy {
    static final Set<String> OPERATIONS = Set.of("RunHooks", "Freeze", "Capture", "Thaw", "Abort", "Validate", "RollBack",
            "Stage", "Prepare", "Release", "Stop", "DeleteSnapshots");
    static final Set<String> LOCAL = Set.of("Run", "Adopt", "Status");

    private final GroupRegistry groups;
    private final boolean allowRoot;

    AccessPolicy(GroupRegistry groups, boolean allowRoot) {
        this.groups = groups;
        this.allowRoot = allowRoot;
    }

    /** Whether the caller may call {@code method} at all; the request is checked by {@link #admitRequest}. */
    void admitCall(Caller caller, String method) {
        if (caller instanceof Caller.UnlistedCertificate certificate) {
            throw denied(caller, method, "its certificate names " + certificate.names() + ", none of which is among this"
                    + " agent's --tls-allowed-client names; a certificate signed by the CA is not enough to act as a coordinator");
        }
        if (caller instanceof Caller.PlaintextTcp plaintext && !plaintext.trusted()) {
            throw denied(caller, method, "plaintext TCP is anonymous and serves only health and reflection: use the local"
                    + " socket (agent run/adopt/status), mutual TLS with an allowed client certificate, or start the agent"
                    + " with --insecure-plaintext on a trusted network");
        }
        boolean operation = OPERATIONS.contains(method);
        if (!operation && !LOCAL.contains(method)) {
            throw denied(caller, method, "not a method this policy knows");
        }
        if (caller instanceof Caller.Coordinator && !operation && !method.equals("Status")) {
            throw denied(caller, method, method + " is for local callers, on the agent's socket");
        }
        if (caller instanceof Caller.LocalUser user && operation && !user.root()) {
            throw denied(caller, method, method + " is for the coordinator over mutual TLS, or root on this host");
        }
    }

    /**
     * The per-request rules of Run, Adopt and Status. A Run or Adopt that passes has its group
     * created (owned by the caller) if it did not exist; one that fails changes nothing.
     */
    void admitRequest(Caller caller, String method, Object request) throws IOException {
        if (request instanceof RunRequest run) {
            admitRun(caller, run);
        } else if (request instanceof AdoptRequest adopt) {
            admitAdopt(caller, adopt);
        } else if (request instanceof StatusRequest status) {
            admitStatus(caller, status);
        }
    }

    private void admitRun(Caller caller, RunRequest run) throws IOException {
        if (run.getUid() == 0 && !allowRoot) {
            throw denied(caller, "Run", "running a group command as uid 0 needs an agent started with --allow-root");
        }
        if (caller instanceof Caller.LocalUser user && !user.root()) {
            if (run.getUid() != user.uid() || run.getGid() != user.gid()) {
                throw denied(caller, "Run", "a caller that is not root may run commands only as itself (uid " + user.uid()
                        + " gid " + user.gid() + "), not as uid " + run.getUid() + " gid " + run.getGid());
            }
            claim(user, "Run", run.getGroup());
        }
    }

    private void admitAdopt(Caller caller, AdoptRequest adopt) throws IOException {
        if (caller instanceof Caller.LocalUser user && !user.root()) {
            if (!Files.isDirectory(Path.of("/proc", Integer.toString(adopt.getPid())))) {
                throw Status.NOT_FOUND.withDescription("adopt: no process " + adopt.getPid()).asRuntimeException();
            }
            for (int pid : GroupProcesses.descendants(adopt.getPid())) {
                Ids ids = Ids.of(pid);
                if (ids != null && (!ids.uids().stream().allMatch(uid -> uid == user.uid())
                        || !ids.gids().stream().allMatch(gid -> gid == user.gid()))) {
                    throw denied(caller, "Adopt", "process " + pid + (pid == adopt.getPid() ? "" : " (of " + adopt.getPid() + "'s tree)")
                            + " runs as uids " + ids.uids() + " gids " + ids.gids() + "; a caller that is not root may adopt"
                            + " only its own processes (uid " + user.uid() + " gid " + user.gid() + ")");
                }
            }
            claim(user, "Adopt", adopt.getGroup());
        }
    }

    private void admitStatus(Caller caller, StatusRequest status) throws IOException {
        if (caller instanceof Caller.LocalUser user && !user.root() && !status.getGroup().isEmpty()) {
            OptionalInt owner = groups.ownerOf(status.getGroup());
            if (owner.isPresent() && owner.getAsInt() != user.uid()) {
                throw denied(caller, "Status", "group " + status.getGroup() + " belongs to uid " + owner.getAsInt());
            }
        }
    }

    /** The reply as the caller may see it: a local caller that is not root sees only its own groups. */
    Object visible(Caller caller, Object reply) throws IOException {
        if (reply instanceof StatusReply status && caller instanceof Caller.LocalUser user && !user.root()) {
            StatusReply.Builder own = status.toBuilder().clearGroups();
            for (GroupStatus group : status.getGroupsList()) {
                if (groups.ownerOf(group.getGroup()).orElse(GroupRegistry.ROOT) == user.uid()) {
                    own.addGroups(group);
                }
            }
            return own.build();
        }
        return reply;
    }

    /** The group is the caller's: it owns it, or it did not exist and now does, owned by the caller. */
    private void claim(Caller.LocalUser user, String method, String group) throws IOException {
        OptionalInt owner = groups.ownerOf(group);
        if (owner.isEmpty()) {
            owner = OptionalInt.of(groups.open(group, user.uid()).owner());
        }
        if (owner.getAsInt() != user.uid()) {
            throw denied(user, method, "group " + group + " belongs to uid " + owner.getAsInt()
                    + "; a caller that is not root may use only groups it created");
        }
    }

    private static StatusRuntimeException denied(Caller caller, String method, String why) {
        return Status.PERMISSION_DENIED.withDescription(method + " refused for " + caller + ": " + why).asRuntimeException();
    }

    /** A process's real, effective, saved and file-system uids and gids, from /proc; null once it is gone. */
    private record Ids(List<Integer> uids, List<Integer> gids) {
        static Ids of(int pid) throws IOException {
            List<String> lines;
            try {
                // Name: (comm) may hold any bytes: never a strict UTF-8 read
                lines = RawNames.decode(Files.readAllBytes(Path.of("/proc", Integer.toString(pid), "status"))).lines().toList();
            } catch (NoSuchFileException gone) {
                return null;
            }
            return new Ids(ids(lines, "Uid:"), ids(lines, "Gid:"));
        }

        private static List<Integer> ids(List<String> lines, String key) {
            return lines.stream().filter(line -> line.startsWith(key)).findFirst()
                    .map(line -> java.util.Arrays.stream(line.substring(key.length()).trim().split("\\s+"))
                            .map(Integer::parseInt).toList())
                    .orElse(List.of());
        }
    }
}
