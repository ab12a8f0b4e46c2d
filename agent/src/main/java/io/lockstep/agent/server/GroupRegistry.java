package io.lockstep.agent.server;

import io.lockstep.agent.cgroup.CgroupLayout;
import io.lockstep.agent.cgroup.GroupCgroup;
import io.lockstep.zk.ZkLayout;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.StandardCopyOption;
import java.util.OptionalInt;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.function.Consumer;
import java.util.Optional;
import java.util.TreeMap;
import java.util.concurrent.ConcurrentHashMap;

/** The groups this agent manages, created on first use and found again after a restart. */
public final class GroupRegistry {
    static final int ROOT = 0;

    private final CgroupLayout layout;
    private final Path stateDir;
    private final Map<String, ManagedGroup> groups = new ConcurrentHashMap<>();
    /** Told the name of a group as a program with a pre-freeze hook is recorded in it (see {@link #onHookedGroup}). */
    private volatile Consumer<String> hookedGroups = group -> { };

    /** Whom to tell of a group as a program with a pre-freeze hook is recorded in it, also when specs load. */
    public void onHookedGroup(Consumer<String> listener) {
        hookedGroups = listener;
        // Groups opened before have loaded their specs already.
        groups.forEach((name, group) -> {
            if (group.specs().anyHooked()) {
                listener.accept(name);
            }
        });
    }

    public GroupRegistry(CgroupLayout layout, Path stateDir) {
        this.layout = layout;
        this.stateDir = stateDir;
    }

    public CgroupLayout layout() {
        return layout;
    }

    /** The group, with its cgroup created if needed; a group this creates belongs to root. */
    public ManagedGroup open(String name) throws IOException {
        return open(name, ROOT);
    }

    /**
     * The group, with its cgroup created if needed. Its owner is recorded once, when the group is
     * first created ({@code <state>/groups/<group>/owner}): {@code ownerIfNew} then, and never
     * changed after; a group found without a record (created before owners were recorded) belongs
     * to root.
     */
    public ManagedGroup open(String name, int ownerIfNew) throws IOException {
        ZkLayout.checkName("group", name);
        ManagedGroup existing = groups.get(name);
        if (existing != null) {
            return existing;
        }
        synchronized (groups) {
            ManagedGroup group = groups.get(name);
            if (group == null) {
                boolean isNew = !layout.existingGroups().contains(name);
                GroupCgroup cgroup = layout.forGroup(name);
                cgroup.create();
                RestartSpecs specs = new RestartSpecs(stateDir.resolve("groups").resolve(name).resolve("specs"),
                        () -> hookedGroups.accept(name));
                specs.load(cgroup.pids());
                group = new ManagedGroup(name, cgroup, specs, owner(name, isNew ? ownerIfNew : ROOT));
                groups.put(name, group);
            }
            return group;
        }
    }

    /** The uid that owns the group, if the group exists; creates nothing. */
    public OptionalInt ownerOf(String name) throws IOException {
        ZkLayout.checkName("group", name);
        ManagedGroup known = groups.get(name);
        if (known != null) {
            return OptionalInt.of(known.owner());
        }
        synchronized (groups) {
            if (groups.containsKey(name)) {
                return OptionalInt.of(groups.get(name).owner());
            }
            if (!layout.existingGroups().contains(name)) {
                Path record = ownerFile(name);
                return Files.exists(record) ? OptionalInt.of(readOwner(record)) : OptionalInt.empty();
            }
            return OptionalInt.of(Files.exists(ownerFile(name)) ? readOwner(ownerFile(name)) : ROOT);
        }
    }

    /** The recorded owner, written first if there is none yet. */
    private int owner(String name, int ifUnrecorded) throws IOException {
        Path record = ownerFile(name);
        if (Files.exists(record)) {
            return readOwner(record);
        }
        Files.createDirectories(record.getParent());
        Path temp = record.resolveSibling("owner.tmp");
        Files.writeString(temp, Integer.toString(ifUnrecorded) + "\n");
        Files.move(temp, record, StandardCopyOption.ATOMIC_MOVE, StandardCopyOption.REPLACE_EXISTING);
        return ifUnrecorded;
    }

    private Path ownerFile(String name) {
        return stateDir.resolve("groups").resolve(name).resolve("owner");
    }

    private static int readOwner(Path record) throws IOException {
        String text = Files.readString(record).trim();
        try {
            return Integer.parseInt(text);
        } catch (NumberFormatException e) {
            throw new IOException("group owner record " + record + " holds '" + text + "', not a uid", e);
        }
    }

    public Optional<ManagedGroup> find(String name) {
        return Optional.ofNullable(groups.get(name));
    }

    /** Groups known in memory, by name. */
    public Map<String, ManagedGroup> all() {
        return new TreeMap<>(groups);
    }

    /** Re-opens the groups whose cgroups exist under this agent's root (after an agent restart). */
    public List<ManagedGroup> rediscover() throws IOException {
        for (String name : layout.existingGroups()) {
            open(name);
        }
        return List.copyOf(all().values());
    }

    public Path logDir(String group) {
        return stateDir.resolve("groups").resolve(group).resolve("logs");
    }
}
