package io.lockstep.agent.proc;

import io.lockstep.names.RawNames;
import io.lockstep.names.RawPaths;
import io.lockstep.proto.FileIdentity;
import io.lockstep.proto.IdentityKind;
import io.lockstep.proto.ServerMatch;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Collection;
import java.util.Comparator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Set;
import java.util.TreeSet;

/** All mounts one process sees, in mountinfo order (a later mount on the same point is on top). */
public final class MountTable {
    /** File system types that are network exports when their source reads {@code server:/export}. */
    public static final Set<String> DEFAULT_NETWORK_TYPES = Set.of("nfs", "nfs4");

    private final List<MountInfo> entries;
    private final Set<String> networkTypes;
    private final Map<Integer, MountInfo> byId = new LinkedHashMap<>();
    /** The entries' mount points, normalized once: every cwd of a capture is looked up here. */
    private final List<String> mountPoints;

    public MountTable(List<MountInfo> entries) {
        this(entries, DEFAULT_NETWORK_TYPES);
    }

    private MountTable(List<MountInfo> entries, Set<String> networkTypes) {
        this.entries = List.copyOf(entries);
        this.networkTypes = Set.copyOf(networkTypes);
        for (MountInfo m : this.entries) {
            byId.put(m.mountId(), m);
        }
        this.mountPoints = this.entries.stream().map(m -> RawPaths.normalize(m.mountPoint())).toList();
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
        // names are bytes: a mount point is whatever bytes it was created with
        return parse(RawNames.decode(Files.readAllBytes(Path.of("/proc", pid, "mountinfo"))).lines().toList());
    }

    public List<MountInfo> entries() {
        return entries;
    }

    public Optional<MountInfo> byId(int mountId) {
        return Optional.ofNullable(byId.get(mountId));
    }

    /** The mount an absolute path lives on: longest mount-point prefix, topmost when stacked. */
    public Optional<MountInfo> forPath(String path) {
        String p = RawPaths.normalize(path);
        int best = -1;
        for (int i = 0; i < entries.size(); i++) {
            String mp = mountPoints.get(i);
            if (RawPaths.isUnder(p, mp) && (best < 0 || RawPaths.depth(mp) >= RawPaths.depth(mountPoints.get(best)))) {
                best = i;
            }
        }
        return best < 0 ? Optional.empty() : Optional.of(entries.get(best));
    }

    /** A recorded file found on this host: its path, and for a network file how its server matched. */
    public record Located(String path, Optional<ServerMatch> match) {
    }

    /**
     * Where a recorded file is on this host. NETWORK: through any local network mount of the same
     * server (see {@link ServerNames#match}) whose export path plus mount root covers the file's
     * path on the server. So a mount of a sub-directory of the export, a bind mount of one, or an
     * NFSv4 mount of the server's pseudo-root ({@code nfs1:/}, the export one directory down) all
     * serve, whichever of them the recording host used. LOCAL: only on the host that recorded it.
     *
     * @throws IllegalArgumentException when the identity's path tries to escape its export
     *     (manifests are untrusted input)
     */
    public Optional<Located> locate(FileIdentity id, String localHostId, ServerNames names) {
        if (id.getKind() == IdentityKind.LOCAL) {
            if (!id.getHostId().equals(localHostId)) {
                return Optional.empty();
            }
            String p = id.getRelativePath();
            if (!RawPaths.isNormalizedAbsolute(p)) {
                throw new IllegalArgumentException("LOCAL identity path is not a normalized absolute path: "
                        + RawNames.display(p));
            }
            return Optional.of(new Located(p, Optional.empty()));
        }
        Wanted wanted = wanted(id, names);
        return candidates(wanted.serverPath()).stream()
                .flatMap(c -> names.match(wanted.server(), c.server(names)).stream()
                        .map(match -> c.located(wanted, match.toBuilder().setRecorded(wanted.source().toString())
                                .setLocal(c.source().toString()).build())))
                // the deepest coverage is the most specific mount; mountinfo order breaks ties
                .max(Comparator.comparingInt(l -> l.covers().length()))
                .map(MatchedCandidate::located);
    }

    /**
     * The network mounts here that would reach a NETWORK identity's path if their server were the
     * recorded one, but whose server no name, address or alias rule ties to it: where a file
     * handle may still show the file to be the recorded one. Deepest coverage first.
     */
    public List<Located> otherServersCovering(FileIdentity id, ServerNames names) {
        Wanted wanted = wanted(id, names);
        return candidates(wanted.serverPath()).stream()
                .filter(c -> names.match(wanted.server(), c.server(names)).isEmpty())
                .sorted(Comparator.comparingInt((Candidate c) -> c.covers().length()).reversed())
                .map(c -> new Located(c.pathOf(wanted.serverPath()), Optional.of(ServerMatch.newBuilder()
                        .setRecorded(wanted.source().toString()).setLocal(c.source().toString()).build())))
                .toList();
    }

    /**
     * Why a NETWORK identity was not found here, for the validation report: both spellings of the
     * server and what each resolved to, and for each network mount here whether it is another
     * server or the same one not reaching the file.
     */
    public String whyMissing(FileIdentity id, ServerNames names) {
        Wanted wanted = wanted(id, names);
        StringBuilder why = new StringBuilder("no network mount here reaches ").append(wanted.source().server())
                .append(":").append(wanted.serverPath()).append("; recorded server ").append(wanted.server().written())
                .append(" resolved to ").append(addressText(id.getServerAddressesList()))
                .append(" on the recording host and to ").append(addressText(names.addresses(wanted.server().written())))
                .append(" here");
        List<String> mounts = new ArrayList<>();
        for (MountInfo m : entries) {
            Optional<NfsSource> source = isNetwork(m) ? NfsSource.parse(m.source()) : Optional.empty();
            if (source.isEmpty()) {
                continue;
            }
            Candidate c = new Candidate(m, source.get(), joinAbsolute(source.get().path(), m.root()));
            ServerNames.Server local = c.server(names);
            String verdict = names.match(wanted.server(), local)
                    .map(match -> "the same server (" + ruleText(match) + ") but " + c.covers()
                            + " does not contain " + wanted.serverPath())
                    .orElse("another server: " + local.describe());
            mounts.add(c.source() + " on " + m.mountPoint() + ": " + verdict);
        }
        why.append(mounts.isEmpty() ? "; there are no network mounts here" : "; network mounts here: "
                + String.join("; ", mounts));
        return why.toString();
    }

    /** "same name", "shared address", "alias", "file handle", with what made it so. */
    public static String ruleText(ServerMatch match) {
        String rule = switch (match.getRule()) {
            case SAME_NAME -> "same name";
            case SHARED_ADDRESS -> "shared address";
            case ALIAS -> "alias";
            case FILE_HANDLE -> "file handle";
            default -> "no rule";
        };
        return match.getDetail().isEmpty() ? rule : rule + ": " + match.getDetail();
    }

    private static String addressText(Collection<String> addresses) {
        return addresses.isEmpty() ? "nothing" : String.join(", ", new TreeSet<>(addresses));
    }

    private Wanted wanted(FileIdentity id, ServerNames names) {
        if (id.getKind() != IdentityKind.NETWORK) {
            throw new IllegalArgumentException("file identity is not a network one: " + id);
        }
        NfsSource source = NfsSource.parse(id.getSource())
                .orElseThrow(() -> new IllegalArgumentException("NETWORK identity source is not server:/export: "
                        + id.getSource()));
        String relative = id.getRelativePath();
        for (String part : relative.split("/")) {
            if (part.equals("..") || part.equals(".")) {
                throw new IllegalArgumentException("NETWORK identity path escapes its export: " + relative);
            }
        }
        // manifests of older agents carry no server name of their own: the source's is the same
        String written = id.getServer().isEmpty() ? source.server() : id.getServer();
        return new Wanted(source, names.server(written, id.getServerAddressesList()),
                joinAbsolute(source.path(), relative));
    }

    /** Every network mount here whose export path plus root covers {@code serverPath}, any server. */
    private List<Candidate> candidates(String serverPath) {
        return entries.stream()
                .filter(this::isNetwork)
                .flatMap(m -> NfsSource.parse(m.source()).stream()
                        .map(s -> new Candidate(m, s, joinAbsolute(s.path(), m.root()))))
                .filter(c -> isUnder(serverPath, c.covers()))
                .toList();
    }

    /** What the identity asks for: its server, and the file's absolute path on that server. */
    private record Wanted(NfsSource source, ServerNames.Server server, String serverPath) {
    }

    /** A local network mount and the server path it starts at (export path plus mount root). */
    private record Candidate(MountInfo mount, NfsSource source, String covers) {
        ServerNames.Server server(ServerNames names) {
            return names.server(source.server(), mount.serverAddress().stream().toList());
        }

        String pathOf(String serverPath) {
            String rest = serverPath.substring(covers.length()).replaceFirst("^/+", "");
            return RawPaths.resolve(RawPaths.normalize(mount.mountPoint()), rest);
        }

        MatchedCandidate located(Wanted wanted, ServerMatch match) {
            return new MatchedCandidate(new Located(pathOf(wanted.serverPath()), Optional.of(match)), covers);
        }
    }

    private record MatchedCandidate(Located located, String covers) {
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
