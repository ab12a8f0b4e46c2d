package io.lockstep.agent.proc;

import io.lockstep.proto.FileIdentity;
import io.lockstep.proto.IdentityKind;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Comparator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Set;

/** All mounts one process sees, in mountinfo order (a later mount on the same point is on top). */
public final class MountTable {
    /** File system types that are network exports when their source reads {@code server:/export}. */
    public static final Set<String> DEFAULT_NETWORK_TYPES = Set.of("nfs", "nfs4");

    private final List<MountInfo> entries;
    private final Set<String> networkTypes;
    private final Map<Integer, MountInfo> byId = new LinkedHashMap<>();

    public MountTable(List<MountInfo> entries) {
        this(entries, DEFAULT_NETWORK_TYPES);
    }

    private MountTable(List<MountInfo> entries, Set<String> networkTypes) {
        this.entries = List.copyOf(entries);
        this.networkTypes = Set.copyOf(networkTypes);
        for (MountInfo m : this.entries) {
            byId.put(m.mountId(), m);
        }
    }

    /**
     * The same table with more file system types counted as network exports (an operator's
     * CephFS or GlusterFS, or a tmpfs standing in for NFS in a demonstration); a mount counts only
     * if its source also reads {@code server:/export}.
     */
    public MountTable withNetworkTypes(Set<String> extraTypes) {
        Set<String> types = new java.util.HashSet<>(DEFAULT_NETWORK_TYPES);
        types.addAll(extraTypes);
        return new MountTable(entries, types);
    }

    /** A mount of a network export: a network type and a {@code server:/export} source. */
    public boolean isNetwork(MountInfo mount) {
        return networkTypes.contains(mount.fsType()) && NfsSource.parse(mount.source()).isPresent();
    }

    public static MountTable parse(List<String> lines) {
        return new MountTable(lines.stream().filter(l -> !l.isBlank()).map(MountInfo::parse).toList());
    }

    /** The mount table of {@code pid} ("self" is fine), from /proc/&lt;pid&gt;/mountinfo. */
    public static MountTable read(String pid) throws IOException {
        return parse(Files.readAllLines(Path.of("/proc", pid, "mountinfo")));
    }

    public List<MountInfo> entries() {
        return entries;
    }

    public Optional<MountInfo> byId(int mountId) {
        return Optional.ofNullable(byId.get(mountId));
    }

    /** The mount an absolute path lives on: longest mount-point prefix, topmost when stacked. */
    public Optional<MountInfo> forPath(Path path) {
        Path p = path.normalize();
        MountInfo best = null;
        for (MountInfo m : entries) {
            Path mp = Path.of(m.mountPoint());
            if (p.startsWith(mp) && (best == null || mp.getNameCount() >= Path.of(best.mountPoint()).getNameCount())) {
                best = m;
            }
        }
        return Optional.ofNullable(best);
    }

    /**
     * Where a recorded file is on this host. NETWORK: through any local nfs/nfs4 mount of the same
     * server whose export path plus mount root covers the file (so a mount of a sub-directory of the
     * export, or a bind mount of one, also serves). LOCAL: only on the host that recorded it.
     *
     * @throws IllegalArgumentException when the identity's path tries to escape its export
     *     (manifests are untrusted input)
     */
    public Optional<Path> resolve(FileIdentity id, String localHostId) {
        if (id.getKind() == IdentityKind.LOCAL) {
            if (!id.getHostId().equals(localHostId)) {
                return Optional.empty();
            }
            Path p = Path.of(id.getRelativePath());
            if (!p.isAbsolute() || !p.normalize().equals(p)) {
                throw new IllegalArgumentException("LOCAL identity path is not a normalized absolute path: "
                        + id.getRelativePath());
            }
            return Optional.of(p);
        }
        if (id.getKind() != IdentityKind.NETWORK) {
            throw new IllegalArgumentException("file identity has no kind: " + id);
        }
        NfsSource wanted = NfsSource.parse(id.getSource())
                .orElseThrow(() -> new IllegalArgumentException("NETWORK identity source is not server:/export: "
                        + id.getSource()));
        String relative = id.getRelativePath();
        for (String part : relative.split("/")) {
            if (part.equals("..") || part.equals(".")) {
                throw new IllegalArgumentException("NETWORK identity path escapes its export: " + relative);
            }
        }
        String serverPath = joinAbsolute(wanted.path(), relative);
        return entries.stream()
                .filter(this::isNetwork)
                .flatMap(m -> NfsSource.parse(m.source()).stream()
                        .filter(s -> s.server().equals(wanted.server()))
                        .map(s -> new Candidate(m, joinAbsolute(s.path(), m.root()))))
                .filter(c -> isUnder(serverPath, c.covers()))
                // the deepest coverage is the most specific mount; mountinfo order breaks ties
                .max(Comparator.comparingInt(c -> c.covers().length()))
                .map(c -> {
                    String rest = serverPath.substring(c.covers().length()).replaceFirst("^/+", "");
                    Path mp = Path.of(c.mount().mountPoint());
                    return rest.isEmpty() ? mp : mp.resolve(rest);
                });
    }

    private record Candidate(MountInfo mount, String covers) {
    }

    static boolean isUnder(String path, String prefix) {
        return prefix.equals("/") || path.equals(prefix) || path.startsWith(prefix + "/");
    }

    /** "/a" + "b/c" or "/b/c" → "/a/b/c", without trailing slash (except the root itself). */
    static String joinAbsolute(String base, String relative) {
        String joined = (base + "/" + relative).replaceAll("/+", "/");
        if (joined.length() > 1 && joined.endsWith("/")) {
            joined = joined.substring(0, joined.length() - 1);
        }
        return joined.startsWith("/") ? joined : "/" + joined;
    }

    /** {@code server:/export} split; trailing slashes normalized away. */
    public record NfsSource(String server, String path) {
        public static Optional<NfsSource> parse(String source) {
            int colon = source.indexOf(":/");
            if (source.startsWith("[")) { // IPv6 literal: [fd00::1]:/export
                int close = source.indexOf("]:/");
                colon = close < 0 ? -1 : close + 1;
            }
            if (colon <= 0) {
                return Optional.empty();
            }
            return Optional.of(new NfsSource(source.substring(0, colon), joinAbsolute("/", source.substring(colon + 1))));
        }

        /** The canonical form recorded in identities: "server:/export" without trailing slash. */
        @Override
        public String toString() {
            return server + ":" + path;
        }
    }
}
