package io.lockstep.agent.server;

import io.lockstep.agent.cgroup.CgroupLayout;
import io.lockstep.agent.cgroup.GroupCgroup;
import io.lockstep.zk.ZkLayout;

import java.io.IOException;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.TreeMap;
import java.util.concurrent.ConcurrentHashMap;

/** The groups this agent manages, created on first use and found again after a restart. */
public final class GroupRegistry {
    private final CgroupLayout layout;
    private final Path stateDir;
    private final Map<String, ManagedGroup> groups = new ConcurrentHashMap<>();

    public GroupRegistry(CgroupLayout layout, Path stateDir) {
        this.layout = layout;
        this.stateDir = stateDir;
    }

    public CgroupLayout layout() {
        return layout;
    }

    /** The group, with its cgroup created if needed. */
    public ManagedGroup open(String name) throws IOException {
        ZkLayout.checkName("group", name);
        ManagedGroup existing = groups.get(name);
        if (existing != null) {
            return existing;
        }
        synchronized (groups) {
            ManagedGroup group = groups.get(name);
            if (group == null) {
                GroupCgroup cgroup = layout.forGroup(name);
                cgroup.create();
                RestartSpecs specs = new RestartSpecs(stateDir.resolve("groups").resolve(name).resolve("specs"));
                specs.load(cgroup.pids());
                group = new ManagedGroup(name, cgroup, specs);
                groups.put(name, group);
            }
            return group;
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
