package io.lockstep.agent.cgroup;

import io.lockstep.agent.nativeio.Native;
import java.io.IOException;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Set;
import java.util.TreeSet;
import java.util.concurrent.ConcurrentHashMap;

/**
 * A group without a cgroup: the pids the caller added, and every live descendant of them. Each
 * added pid is remembered with its start time, so a recycled pid is never taken for a member.
 */
final class PidSetGroup implements GroupCgroup {
    private static final int SIGKILL = 9;
    private static final int SIGSTOP = 19;

    private final String name;
    private final Map<Integer, Long> members = new ConcurrentHashMap<>();
    private final SigstopFreezer freezer = new SigstopFreezer(this);

    PidSetGroup(String name) {
        this.name = name;
    }

    @Override
    public String name() {
        return name;
    }

    @Override
    public Backend backend() {
        return Backend.SIGSTOP;
    }

    @Override
    public Optional<Path> path() {
        return Optional.empty();
    }

    @Override
    public void create() {
        // Nothing to create: the pid set is this object.
    }

    @Override
    public void addProcess(int pid) throws IOException {
        ProcFs.Stat stat = ProcFs.stat(pid).orElseThrow(() -> new IOException("cannot add pid " + pid + " to group " + name + ": no such process"));
        members.put(pid, stat.startTime());
    }

    @Override
    public Set<Integer> pids() throws IOException {
        Set<Integer> roots = new TreeSet<>();
        for (Map.Entry<Integer, Long> member : members.entrySet()) {
            Optional<ProcFs.Stat> stat = ProcFs.stat(member.getKey());
            if (stat.isPresent() && stat.get().startTime() == member.getValue() && !stat.get().dead()) {
                roots.add(member.getKey());
            } else {
                members.remove(member.getKey(), member.getValue());
            }
        }
        return ProcFs.withDescendants(roots);
    }

    @Override
    public Set<Integer> tids() throws IOException {
        return ProcFs.threadsOf(pids());
    }

    @Override
    public boolean isFrozen() throws IOException {
        return freezer.isFrozen();
    }

    @Override
    public boolean killAll(Duration timeout) throws IOException {
        // Stop the whole tree first: killing a parent before its children would reparent them to
        // init, out of reach of the descendant walk.
        Set<Integer> stopped = new TreeSet<>();
        Set<Integer> fresh;
        while (!(fresh = difference(pids(), stopped)).isEmpty()) {
            for (int pid : fresh) {
                Native.kill(pid, SIGSTOP);
            }
            stopped.addAll(fresh);
        }
        for (int pid : stopped) {
            Native.kill(pid, SIGKILL);
        }
        return BoundedWait.until(() -> {
            Set<Integer> left = pids();
            for (int pid : left) {
                Native.kill(pid, SIGKILL);
            }
            return left.isEmpty();
        }, timeout);
    }

    private static Set<Integer> difference(Set<Integer> a, Set<Integer> b) {
        Set<Integer> d = new TreeSet<>(a);
        d.removeAll(b);
        return d;
    }

    @Override
    public void remove() throws IOException {
        Set<Integer> left = pids();
        if (!left.isEmpty()) {
            throw new IOException("cannot remove group " + name + ": pids " + left + " still run");
        }
        members.clear();
    }

    @Override
    public List<String> entryCommand() {
        return List.of();
    }

    @Override
    public Freezer freezer() {
        return freezer;
    }

    @Override
    public String toString() {
        return "SIGSTOP group " + name + " (pids " + members.keySet() + " and descendants)";
    }
}
