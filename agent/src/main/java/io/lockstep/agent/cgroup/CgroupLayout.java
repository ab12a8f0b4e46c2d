package io.lockstep.agent.cgroup;

import io.lockstep.names.RawNames;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.EnumSet;
import java.util.List;
import java.util.Optional;
import java.util.Set;
import java.util.regex.Pattern;

/**
 * What this machine offers to hold a group still, and where the agent's groups live: {@code
 * <mount>/<root>/<group>}, {@code <root>} defaulting to {@value #DEFAULT_ROOT}. The agent touches
 * no cgroup outside its root. Mounts come from /proc/self/mountinfo, never from fixed paths: a
 * pure v2 host mounts cgroup2 at /sys/fs/cgroup, a hybrid one at /sys/fs/cgroup/unified.
 */
public final class CgroupLayout {
    public static final String DEFAULT_ROOT = "lockstep";
    /**
     * The name prefix of the scratch cgroups the agent's start-up warm-up freezes ({@link
     * #scratchGroup}): '@' is never in a group name, so no group can take it and {@link
     * #existingGroups} never lists one.
     */
    public static final String SCRATCH_PREFIX = "warm-up@";
    private static final Pattern NAME = Pattern.compile("[A-Za-z0-9._-]{1,64}");

    /** The cgroup mounts found in a mountinfo: the first cgroup2 one and the first v1 one carrying the freezer. */
    record Mounts(Optional<Path> cgroup2, Optional<Path> freezerV1) {
    }

    private final Mounts mounts;
    private final String root;
    private final boolean cgroup2Freeze;
    private final boolean cgroup2Kill;
    private final Backend backend;

    private CgroupLayout(Mounts mounts, String root, boolean cgroup2Freeze, boolean cgroup2Kill, Backend backend) {
        this.mounts = mounts;
        this.root = root;
        this.cgroup2Freeze = cgroup2Freeze;
        this.cgroup2Kill = cgroup2Kill;
        this.backend = backend;
    }

    public static CgroupLayout detect() throws IOException {
        return detect(DEFAULT_ROOT);
    }

    /**
     * Detects the mounts and picks the best backend. Creates {@code <cgroup2 mount>/<root>} when
     * missing: cgroup.freeze exists only below the root cgroup, so the agent's own root is where
     * to probe for it.
     */
    public static CgroupLayout detect(String root) throws IOException {
        validateName("cgroup root", root);
        // names are bytes: a mount point need not be UTF-8 (strict decoding would fail the agent's start)
        Mounts mounts = parseMountinfo(RawNames.decode(Files.readAllBytes(Path.of("/proc/self/mountinfo"))).lines().toList());
        boolean freeze = false;
        boolean kill = false;
        if (mounts.cgroup2().isPresent()) {
            Path dir = mounts.cgroup2().get().resolve(root);
            try {
                Files.createDirectories(dir);
                freeze = Files.exists(dir.resolve("cgroup.freeze"));
                kill = Files.exists(dir.resolve("cgroup.kill"));
            } catch (IOException e) {
                // Not ours to write (e.g. a read-only mount in a container): v2 is not usable here.
                freeze = false;
            }
        }
        CgroupLayout probe = new CgroupLayout(mounts, root, freeze, kill, Backend.SIGSTOP);
        return new CgroupLayout(mounts, root, freeze, kill, probe.available().iterator().next());
    }

    static Mounts parseMountinfo(List<String> lines) {
        Optional<Path> cgroup2 = Optional.empty();
        Optional<Path> freezer = Optional.empty();
        for (String line : lines) {
            // id parent major:minor root mountpoint options [optional fields...] - fstype source superoptions
            int separator = line.indexOf(" - ");
            if (separator < 0) {
                continue;
            }
            String[] before = line.substring(0, separator).split(" ");
            String[] after = line.substring(separator + 3).split(" ");
            if (before.length < 5 || after.length < 3) {
                continue;
            }
            // only cgroup mount points become Paths: any other may be a name the JVM's charset cannot hold
            if (after[0].equals("cgroup2") && cgroup2.isEmpty()) {
                cgroup2 = Optional.of(Path.of(unescape(before[4])));
            } else if (after[0].equals("cgroup") && freezer.isEmpty() && List.of(after[2].split(",")).contains("freezer")) {
                freezer = Optional.of(Path.of(unescape(before[4])));
            }
        }
        return new Mounts(cgroup2, freezer);
    }

    /** mountinfo escapes space, tab, newline and backslash as \ooo octal. */
    private static String unescape(String field) {
        StringBuilder out = new StringBuilder();
        for (int i = 0; i < field.length(); i++) {
            char c = field.charAt(i);
            if (c == '\\' && i + 3 < field.length()
                    && field.substring(i + 1, i + 4).chars().allMatch(d -> d >= '0' && d <= '7')) {
                out.append((char) Integer.parseInt(field.substring(i + 1, i + 4), 8));
                i += 3;
            } else {
                out.append(c);
            }
        }
        return out.toString();
    }

    /** The same layout with another root (tests use a unique one per run). */
    public CgroupLayout withRoot(String otherRoot) throws IOException {
        return detect(otherRoot).withBackend(backend);
    }

    /** The same layout forced onto a backend, for tests and operators; fails when this machine lacks it. */
    public CgroupLayout withBackend(Backend forced) {
        if (!available().contains(forced)) {
            throw new IllegalStateException("backend " + forced + " is not available here (available: " + available()
                    + ", cgroup2 mount " + mounts.cgroup2().map(Path::toString).orElse("none")
                    + ", v1 freezer mount " + mounts.freezerV1().map(Path::toString).orElse("none") + ")");
        }
        return new CgroupLayout(mounts, root, cgroup2Freeze, cgroup2Kill, forced);
    }

    /** The backends this machine offers, best first; SIGSTOP is always there. */
    public Set<Backend> available() {
        Set<Backend> available = EnumSet.noneOf(Backend.class);
        if (cgroup2Freeze) {
            available.add(Backend.CGROUP_V2);
        }
        if (mounts.freezerV1().isPresent()) {
            available.add(Backend.CGROUP_V1_FREEZER);
        }
        available.add(Backend.SIGSTOP);
        return available;
    }

    public Backend backend() {
        return backend;
    }

    /** True when groups are held by SIGSTOP only: report it to operators. */
    public boolean degraded() {
        return backend.degraded();
    }

    public String root() {
        return root;
    }

    public Optional<Path> cgroup2Mount() {
        return mounts.cgroup2();
    }

    public Optional<Path> freezerV1Mount() {
        return mounts.freezerV1();
    }

    /** Whether cgroup v2 here has cgroup.freeze in a child cgroup (kernel 5.2+). */
    public boolean cgroup2Freeze() {
        return cgroup2Freeze;
    }

    /** Whether cgroup v2 here has cgroup.kill (kernel 5.14+); without it killAll signals pid by pid. */
    public boolean cgroup2Kill() {
        return cgroup2Kill;
    }

    /** The directory holding this agent's groups for the chosen backend; empty for SIGSTOP. */
    public Optional<Path> rootPath() {
        switch (backend) {
            case CGROUP_V2:
                return Optional.of(mounts.cgroup2().orElseThrow().resolve(root));
            case CGROUP_V1_FREEZER:
                return Optional.of(mounts.freezerV1().orElseThrow().resolve(root));
            default:
                return Optional.empty();
        }
    }

    /**
     * The group named {@code group} on the chosen backend. For SIGSTOP every call gives a new,
     * empty pid set: keep the instance.
     */
    public GroupCgroup forGroup(String group) {
        validateName("group name", group);
        return named(group);
    }

    /** The cgroup {@code name} under the agent's root on the chosen backend (a pid set for SIGSTOP). */
    private GroupCgroup named(String name) {
        switch (backend) {
            case CGROUP_V2:
                return new CgroupV2Group(name, rootPath().orElseThrow().resolve(name));
            case CGROUP_V1_FREEZER:
                return new CgroupV1FreezerGroup(name, rootPath().orElseThrow().resolve(name));
            default:
                return new PidSetGroup(name);
        }
    }

    /**
     * A scratch group of this agent process on the chosen backend, {@value #SCRATCH_PREFIX}{@code
     * <pid>} under the agent's root: the start-up warm-up freezes, captures and thaws a child of its
     * own in it, through the same freezer a group's checkpoint uses. Never a group: {@link
     * #existingGroups} leaves it out. Create it before use and remove it after.
     */
    public GroupCgroup scratchGroup() {
        return named(SCRATCH_PREFIX + ProcessHandle.current().pid());
    }

    /** The scratch groups under this agent's root that an earlier agent process left (it died during its warm-up). */
    public List<GroupCgroup> leftScratchGroups() throws IOException {
        Optional<Path> dir = rootPath();
        if (dir.isEmpty() || !Files.isDirectory(dir.get())) {
            return List.of();
        }
        try (var children = Files.list(dir.get())) {
            return children.filter(Files::isDirectory).filter(p -> p.getFileName().toString().startsWith(SCRATCH_PREFIX))
                    .map(p -> named(p.getFileName().toString())).toList();
        }
    }

    /**
     * The groups whose cgroups exist under this agent's root on the chosen backend, sorted: what a
     * restarted agent finds again. Empty for SIGSTOP, whose pid sets live only in memory. Scratch
     * cgroups ({@link #scratchGroup}) are not groups and are left out.
     */
    public List<String> existingGroups() throws IOException {
        Optional<Path> dir = rootPath();
        if (dir.isEmpty() || !Files.isDirectory(dir.get())) {
            return List.of();
        }
        try (var children = Files.list(dir.get())) {
            return children.filter(Files::isDirectory).map(p -> p.getFileName().toString())
                    .filter(name -> !name.startsWith(SCRATCH_PREFIX)).sorted().toList();
        }
    }

    /** Removes the agent's root directories that are empty of groups; leaves the others. */
    public void removeRootIfEmpty() throws IOException {
        List<Path> roots = new ArrayList<>();
        mounts.cgroup2().ifPresent(m -> roots.add(m.resolve(root)));
        mounts.freezerV1().ifPresent(m -> roots.add(m.resolve(root)));
        for (Path dir : roots) {
            try (var children = Files.list(dir)) {
                if (children.anyMatch(Files::isDirectory)) {
                    continue;
                }
            } catch (NoSuchFileException e) {
                continue;
            }
            try {
                Files.deleteIfExists(dir);
            } catch (IOException e) {
                throw new IOException("cannot remove cgroup root " + dir + ": " + e.getMessage(), e);
            }
        }
    }

    /**
     * Checks a group or root name: 1 to 64 of letters, digits, '-', '_', '.', and not a path
     * ('/' or '..'), so a name can never lead outside the agent's root.
     */
    public static String validateName(String what, String name) {
        if (name == null || !NAME.matcher(name).matches() || name.equals(".") || name.contains("..")) {
            throw new IllegalArgumentException("invalid " + what + " '" + name
                    + "': use 1 to 64 letters, digits, '-', '_' or '.', not '.' or '..'");
        }
        return name;
    }

    @Override
    public String toString() {
        return "cgroup layout: backend " + backend + (degraded() ? " (degraded)" : "") + ", root " + root
                + ", cgroup2 " + mounts.cgroup2().map(Path::toString).orElse("none") + (cgroup2Freeze ? " (freeze)" : "") + (cgroup2Kill ? " (kill)" : "")
                + ", v1 freezer " + mounts.freezerV1().map(Path::toString).orElse("none");
    }
}
