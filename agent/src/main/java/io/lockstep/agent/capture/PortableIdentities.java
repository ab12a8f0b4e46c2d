package io.lockstep.agent.capture;

import com.google.protobuf.ByteString;
import io.lockstep.agent.nativeio.Native;
import io.lockstep.agent.nativeio.NativeException;
import io.lockstep.agent.proc.MountInfo;
import io.lockstep.agent.proc.MountTable;
import io.lockstep.agent.proc.ServerNames;
import io.lockstep.names.RawNames;
import io.lockstep.names.RawPaths;
import io.lockstep.proto.FileIdentity;
import io.lockstep.proto.IdentityKind;
import java.io.IOException;
import java.nio.file.Path;
import java.util.Optional;
import java.util.function.Consumer;

/**
 * Turns a path as one process sees it into a {@link FileIdentity} that means the same file on
 * another host: NETWORK (nfs, nfs4) as {@code server:/export} + path relative to the export root,
 * LOCAL as host + device + absolute path.
 */
public final class PortableIdentities {
    private final MountTable mounts;
    private final String hostId;
    private final ServerNames names;

    /** @param names resolves the server of a network mount, so the identity records its addresses */
    public PortableIdentities(MountTable mounts, String hostId, ServerNames names) {
        this.mounts = mounts;
        this.hostId = hostId;
        this.names = names;
    }

    /** Identities as process {@code pid} sees its files: through its own mount namespace. */
    public static PortableIdentities ofProcess(int pid, String hostId, ServerNames names) throws IOException {
        return new PortableIdentities(MountTable.read(Integer.toString(pid)), hostId, names);
    }

    public MountTable mounts() {
        return mounts;
    }

    /**
     * The identity of {@code path}, on mount {@code mntId} (from fdinfo; when unknown, -1 or absent
     * from the table, the mount is found by the path's longest mount-point prefix). No file system
     * access; a network file's server is resolved (cached, bounded in time) so that a host that
     * spells the server otherwise can match it by address.
     *
     * @throws IllegalArgumentException when no mount covers the path, or an nfs path is not under
     *     the mount point of its mnt_id
     */
    public FileIdentity identify(String path, int mntId) {
        String p = RawPaths.normalize(path);
        Optional<MountInfo> byId = mounts.byId(mntId);
        MountInfo mount = byId.or(() -> mounts.forPath(p))
                .orElseThrow(() -> new IllegalArgumentException("no mount covers " + RawNames.display(path)
                        + " (mnt_id " + mntId + ")"));
        FileIdentity.Builder id = FileIdentity.newBuilder().setFsType(mount.fsType());
        Optional<MountTable.NfsSource> nfs = mounts.isNetwork(mount) ? MountTable.NfsSource.parse(mount.source()) : Optional.empty();
        if (nfs.isPresent()) {
            String mountPoint = RawPaths.normalize(mount.mountPoint());
            if (!RawPaths.isUnder(p, mountPoint)) {
                // path and mnt_id disagree (another mount namespace's view): a guess would be worse
                throw new IllegalArgumentException(RawNames.display(path) + " is not under mount point "
                        + RawNames.display(mount.mountPoint()) + " of its mnt_id " + mount.mountId());
            }
            String underMount = RawPaths.below(mountPoint, p);
            // mountinfo's root is where in the export this mount starts: "/" for the export itself,
            // "/projects/a" for a bind mount (or a mount) of a sub-directory.
            String relative = RawPaths.below("/", RawPaths.normalize(RawPaths.resolve(mount.root(), underMount)));
            String server = nfs.get().server();
            return id.setKind(IdentityKind.NETWORK)
                    .setSource(nfs.get().toString())
                    .setRelativePath(relative)
                    .setServer(server)
                    .addAllServerAddresses(names.server(server, mount.serverAddress().stream().toList()).addresses())
                    .build();
        }
        return id.setKind(IdentityKind.LOCAL)
                .setHostId(hostId)
                .setDevice(mount.device())
                .setSource(mount.source())
                .setRelativePath(path)
                .build();
    }

    /**
     * {@link #identify} plus the file handle, taken through {@code handlePath} (e.g.
     * /proc/&lt;pid&gt;/fd/&lt;n&gt;, which reaches the open file even if renamed). A file system
     * without handles leaves the handle empty, silently; any other failure to take one leaves it
     * empty and says why to {@code warnings}: the handle only strengthens validation at restore,
     * it is never required.
     */
    public FileIdentity identifyWithHandle(String path, int mntId, Path handlePath, Consumer<String> warnings) {
        FileIdentity id = identify(path, mntId);
        try {
            Native.FileHandle handle = Native.nameToHandle(handlePath.toString());
            if (handle == null) {
                return id;
            }
            return id.toBuilder().setFileHandle(ByteString.copyFrom(handle.bytes())).setHandleType(handle.type()).build();
        } catch (NativeException e) {
            warnings.accept("no file handle recorded for " + RawNames.display(path) + ": " + e.getMessage());
            return id;
        }
    }
}
