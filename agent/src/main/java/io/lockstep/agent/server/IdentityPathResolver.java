package io.lockstep.agent.server;

import io.lockstep.agent.proc.MountTable;
import io.lockstep.agent.restore.PathResolver;
import io.lockstep.proto.FdRecord;
import io.lockstep.proto.FileIdentity;
import io.lockstep.proto.IdentityKind;
import io.lockstep.proto.PathMapping;

import java.nio.file.Path;
import java.util.List;
import java.util.Optional;

/**
 * Finds a recorded file on this host by its portable identity: a network file through this
 * host's own mount of the same export (wherever it is mounted), a local file only on the host it
 * was recorded on. Path maps (--path-map FROM=TO) rewrite the resolved path's prefix, for files
 * that moved.
 */
public final class IdentityPathResolver implements PathResolver {
    private final MountTable mounts;
    private final String hostId;
    private final List<PathMapping> pathMaps;

    public IdentityPathResolver(MountTable mounts, String hostId, List<PathMapping> pathMaps) {
        this.mounts = mounts;
        this.hostId = hostId;
        this.pathMaps = List.copyOf(pathMaps);
    }

    @Override
    public Optional<Path> resolve(FdRecord fd) {
        FileIdentity identity = fd.getIdentity();
        if (identity.getKind() == IdentityKind.IDENTITY_KIND_UNSPECIFIED) {
            return Optional.empty();
        }
        if (identity.getKind() == IdentityKind.LOCAL && !identity.getHostId().equals(hostId)) {
            // Another host's local file is here only if the operator mapped it (--path-map).
            Path recorded = Path.of(identity.getRelativePath());
            Path moved = mapped(recorded);
            return moved.equals(recorded) ? Optional.empty() : Optional.of(moved);
        }
        return mounts.resolve(identity, hostId).map(this::mapped);
    }

    private Path mapped(Path resolved) {
        String text = resolved.toString();
        for (PathMapping map : pathMaps) {
            String from = map.getFrom();
            if (text.equals(from) || text.startsWith(from.endsWith("/") ? from : from + "/")) {
                return Path.of(map.getTo() + text.substring(from.length()));
            }
        }
        return resolved;
    }
}
