package io.lockstep.agent.capture;

import com.google.protobuf.ByteString;
import io.lockstep.agent.nativeio.Native;
import io.lockstep.agent.nativeio.NativeException;
import io.lockstep.agent.proc.MountInfo;
import io.lockstep.agent.proc.MountTable;
import io.lockstep.proto.FileIdentity;
import io.lockstep.proto.IdentityKind;
import java.io.IOException;
import java.nio.file.Path;
import java.util.Optional;

/**
 * Turns a path as one process sees it into a {@link FileIdentity} that means the same file on
 * another host: NETWORK (nfs, nfs4) as {@code server:/export} + path relative to the export root,
 * LOCAL as host + device + absolute path.
 */
public final class PortableIdentities {
    private final MountTable mounts;
    private final String hostId;

    public PortableIdentities(MountTable mounts, String hostId) {
        this.mounts = mounts;
        this.hostId = hostId;
    }

    /** Identities as process {@code pid} sees its files: through its own mount namespace. */
    public static PortableIdentities ofProcess(int pid, String hostId) throws IOException {
        return new PortableIdentities(MountTable.read(Integer.toString(pid)), hostId);
    }

    public MountTable mounts() {
        return mounts;
    }

    /**
     * The identity of {@code path}, on mount {@code mntId} (from fdinfo; when unknown, -1 or absent
     * from the table, the mount is found by the path's longest mount-point prefix). Pure: no file
     * system access.
     *
     * @throws IllegalArgumentException when no mount covers the path, or an nfs path is not under
     *     the mount point of its mnt_id
     */
    public FileIdentity identify(String path, int mntId) {
        Path p = Path.of(path);
        Optional<MountInfo> byId = mounts.byId(mntId);
        MountInfo mount = byId.or(() -> mounts.forPath(p))
                .orElseThrow(() -> new IllegalArgumentException("no mount covers " + path + " (mnt_id " + mntId + ")"));
        FileIdentity.Builder id = FileIdentity.newBuilder().setFsType(mount.fsType());
        Optional<MountTable.NfsSource> nfs = mounts.isNetwork(mount) ? MountTable.NfsSource.parse(mount.source()) : Optional.empty();
        if (nfs.isPresent()) {
            Path mountPoint = Path.of(mount.mountPoint());
            if (!p.startsWith(mountPoint)) {
                // path and mnt_id disagree (another mount namespace's view): a guess would be worse
                throw new IllegalArgumentException(path + " is not under mount point " + mount.mountPoint()
                        + " of its mnt_id " + mount.mountId());
            }
            String underMount = mountPoint.relativize(p).toString();
            // mountinfo's root is where in the export this mount starts: "/" for the export itself,
            // "/projects/a" for a bind mount (or a mount) of a sub-directory.
            String relative = Path.of("/").relativize(Path.of(mount.root()).resolve(underMount).normalize()).toString();
            return id.setKind(IdentityKind.NETWORK)
                    .setSource(nfs.get().toString())
                    .setRelativePath(relative)
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
     * without handles, or any failure to take one, leaves the handle empty: the handle only
     * strengthens validation at restore, it is never required.
     */
    public FileIdentity identifyWithHandle(String path, int mntId, Path handlePath) {
        FileIdentity id = identify(path, mntId);
        try {
            Native.FileHandle handle = Native.nameToHandle(handlePath.toString());
            if (handle == null) {
                return id;
            }
            return id.toBuilder().setFileHandle(ByteString.copyFrom(handle.bytes())).setHandleType(handle.type()).build();
        } catch (NativeException | RuntimeException | LinkageError e) {
            return id;
        }
    }
}
