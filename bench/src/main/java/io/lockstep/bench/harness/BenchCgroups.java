package io.lockstep.bench.harness;

import io.lockstep.agent.cgroup.Backend;
import io.lockstep.agent.cgroup.CgroupLayout;
import io.lockstep.agent.cgroup.GroupCgroup;
import java.io.IOException;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.UUID;

/**
 * The bench's own cgroup root, {@code lockstep-bench-<uuid>}, and every group and child made under
 * it. {@link #close} kills the children, removes the groups and the root; a shutdown hook calls it
 * too, so a failure or Ctrl-C leaves nothing frozen, running or behind.
 */
public final class BenchCgroups implements AutoCloseable {
    private static final Duration KILL_TIMEOUT = Duration.ofSeconds(10);

    private final CgroupLayout layout;
    private final List<GroupCgroup> groups = new ArrayList<>();
    private final Map<GroupCgroup, List<ChildJvm>> children = new HashMap<>();
    private final Thread hook = new Thread(this::closeQuietly, "bench-cleanup");

    private BenchCgroups(CgroupLayout layout) {
        this.layout = layout;
    }

    /** A fresh root on the cgroup v2 freezer: the backend production uses on this kind of host. */
    public static BenchCgroups open() throws IOException {
        CgroupLayout layout = CgroupLayout.detect("lockstep-bench-" + UUID.randomUUID());
        BenchCgroups cgroups = new BenchCgroups(layout.withBackend(Backend.CGROUP_V2));
        Runtime.getRuntime().addShutdownHook(cgroups.hook);
        return cgroups;
    }

    public synchronized GroupCgroup newGroup(String name) throws IOException {
        GroupCgroup group = layout.forGroup(name);
        groups.add(group);
        group.create();
        return group;
    }

    /** Starts a child JVM inside {@code group} and waits for its READY line. */
    public ChildJvm start(GroupCgroup group, Class<?> main, List<String> jvmOptions, List<String> args,
                          Duration readyTimeout) throws IOException {
        ChildJvm child = ChildJvm.startIn(group, main, jvmOptions, args);
        synchronized (this) {
            children.computeIfAbsent(group, g -> new ArrayList<>()).add(child);
        }
        child.awaitReady(readyTimeout);
        return child;
    }

    /** Kills the group's processes and removes its cgroup. */
    public synchronized void dispose(GroupCgroup group) throws IOException {
        if (!group.killAll(KILL_TIMEOUT)) {
            throw new IOException("processes " + group.pids() + " of " + group + " survived SIGKILL for " + KILL_TIMEOUT);
        }
        // A killed child stays in its cgroup (rmdir: EBUSY) until we, its parent, have reaped it.
        for (ChildJvm child : children.getOrDefault(group, List.of())) {
            child.awaitExit(KILL_TIMEOUT);
        }
        children.remove(group);
        group.remove();
        groups.remove(group);
    }

    @Override
    public synchronized void close() throws IOException {
        IOException failure = null;
        for (GroupCgroup group : List.copyOf(groups)) {
            try {
                dispose(group);
            } catch (IOException e) {
                failure = chain(failure, e);
            }
        }
        children.values().forEach(list -> list.forEach(ChildJvm::destroy));
        children.clear();
        try {
            layout.removeRootIfEmpty();
        } catch (IOException e) {
            failure = chain(failure, e);
        }
        try {
            Runtime.getRuntime().removeShutdownHook(hook);
        } catch (IllegalStateException e) {
            // already shutting down: we are the hook
        }
        if (failure != null) {
            throw failure;
        }
    }

    private void closeQuietly() {
        try {
            close();
        } catch (IOException e) {
            System.err.println("bench clean-up: " + e.getMessage());
        }
    }

    private static IOException chain(IOException first, IOException next) {
        if (first == null) {
            return next;
        }
        first.addSuppressed(next);
        return first;
    }
}
