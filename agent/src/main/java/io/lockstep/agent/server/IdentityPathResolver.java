package io.lockstep.agent.server;

import io.lockstep.names.RawNames;
import io.lockstep.agent.nativeio.Native;
import io.lockstep.agent.nativeio.NativeException;
import io.lockstep.agent.proc.MountTable;
import io.lockstep.agent.proc.ServerNames;
import io.lockstep.agent.restore.FileHandles;
import io.lockstep.agent.restore.PathResolver;
import io.lockstep.proto.FdRecord;
import io.lockstep.proto.FileIdentity;
import io.lockstep.proto.IdentityKind;
import io.lockstep.proto.MatchRule;
import io.lockstep.proto.PathMapping;

import java.util.List;
import java.util.Optional;

/**
 * Finds a recorded file on this host by its portable identity: a network file through this
 * host's own mount of the same server's export (wherever it is mounted, however it spells the
 * server: see {@link ServerNames}), a local file only on the host it was recorded on. When no
 * mount's server matches, a network file with a recorded handle is still found through a mount
 * of another spelling if the file there has that handle. Path maps (--path-map FROM=TO) rewrite
 * the resolved path's prefix, for files that moved.
 */
public final class IdentityPathResolver implements PathResolver {
    private final MountTable mounts;
    private final String hostId;
    private final List<PathMapping> pathMaps;
    private final ServerNames names;
    private final FileHandles handles;

    public IdentityPathResolver(MountTable mounts, String hostId, List<PathMapping> pathMaps, ServerNames names,
                                FileHandles handles) {
        this.mounts = mounts;
        this.hostId = hostId;
        this.pathMaps = List.copyOf(pathMaps);
        this.names = names;
        this.handles = handles;
    }

    @Override
    public Optional<String> resolve(FdRecord fd) {
        return lookup(fd).path();
    }

    @Override
    public Lookup lookup(FdRecord fd) {
        FileIdentity identity = fd.getIdentity();
        if (identity.getKind() == IdentityKind.IDENTITY_KIND_UNSPECIFIED) {
            return Lookup.missing("no portable identity was recorded");
        }
        if (identity.getKind() == IdentityKind.LOCAL && !identity.getHostId().equals(hostId)) {
            // Another host's local file is here only if the operator mapped it (--path-map).
            String recorded = identity.getRelativePath();
            String moved = mapped(recorded);
            return moved.equals(recorded)
                    ? Lookup.missing("a local file of host " + identity.getHostId() + " (no --path-map moves it here)")
                    : new Lookup(Optional.of(moved), Optional.empty(), false, "");
        }
        Optional<MountTable.Located> located = mounts.locate(identity, hostId, names);
        if (located.isEmpty() && identity.getKind() == IdentityKind.NETWORK) {
            located = byHandle(identity);
        }
        if (located.isEmpty()) {
            return Lookup.missing(identity.getKind() == IdentityKind.NETWORK ? mounts.whyMissing(identity, names)
                    : "not found on this host");
        }
        String found = located.get().path();
        String moved = mapped(found);
        return new Lookup(Optional.of(moved), located.get().match(), moved.equals(found), "");
    }

    /** Through a mount of a server no rule ties to the recorded one, when the file there has the recorded handle. */
    private Optional<MountTable.Located> byHandle(FileIdentity identity) {
        if (identity.getFileHandle().isEmpty()) {
            return Optional.empty();
        }
        byte[] recorded = identity.getFileHandle().toByteArray();
        for (MountTable.Located candidate : mounts.otherServersCovering(identity, names)) {
            try {
                Optional<Native.FileHandle> handle = handles.of(candidate.path());
                if (handle.isPresent() && FileHandles.same(handle.get(), identity.getHandleType(), recorded)) {
                    return Optional.of(new MountTable.Located(candidate.path(), candidate.match().map(m -> m.toBuilder()
                            .setRule(MatchRule.FILE_HANDLE)
                            .setDetail(RawNames.display(candidate.path()) + " has the recorded file handle").build())));
                }
            } catch (NativeException notThere) {
                // no such file through this mount (ENOENT) or no handle for it: not the recorded file
            }
        }
        return Optional.empty();
    }

    private String mapped(String resolved) {
        String text = resolved;
        for (PathMapping map : pathMaps) {
            String from = map.getFrom();
            if (text.equals(from) || text.startsWith(from.endsWith("/") ? from : from + "/")) {
                String moved = (map.getTo() + text.substring(from.length())).replaceAll("/+", "/");
                return moved.length() > 1 && moved.endsWith("/") ? moved.substring(0, moved.length() - 1) : moved;
            }
        }
        return resolved;
    }
}
