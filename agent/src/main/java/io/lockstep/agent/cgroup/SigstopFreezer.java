package io.lockstep.agent.cgroup;

import io.lockstep.agent.nativeio.Native;
import java.io.IOException;
import java.time.Instant;
import java.util.List;
import java.util.Optional;
import java.util.Set;
import java.util.TreeSet;
import java.util.concurrent.ConcurrentHashMap;
import java.util.stream.Collectors;

/**
 * The last resort where no cgroup freezer exists: SIGSTOP every process of the group, wait until
 * every thread shows state T, and walk the tree again until no new process appears (a fork may
 * have completed before its parent stopped). Degraded: see {@link Backend#SIGSTOP}.
 */
final class SigstopFreezer implements Freezer {
    private static final int SIGSTOP = 19;
    private static final int SIGCONT = 18;

    private final GroupCgroup group;
    /** Processes this freezer stopped, so a thaw continues them even if they left the walk. */
    private final Set<Integer> stopped = ConcurrentHashMap.newKeySet();

    SigstopFreezer(GroupCgroup group) {
        this.group = group;
    }

    @Override
    public Backend backend() {
        return Backend.SIGSTOP;
    }

    @Override
    public FreezeResult freeze(Instant deadline) throws IOException {
        if (!Instant.now().isBefore(deadline)) {
            throw new FreezeTimeoutException(group.toString(), deadline,
                    "deadline passed before the freeze started, not frozen", ProcFs.reports(group.tids()));
        }
        long start = System.nanoTime();
        try {
            while (true) {
                Set<Integer> fresh = new TreeSet<>(group.pids());
                fresh.removeAll(stopped);
                if (fresh.isEmpty()) {
                    break;
                }
                for (int pid : fresh) {
                    if (Native.kill(pid, SIGSTOP)) {
                        stopped.add(pid);
                    }
                }
                if (!BoundedWait.until(() -> allStopped(fresh), deadline)) {
                    List<TaskReport> stuck = ProcFs.reports(ProcFs.threadsOf(fresh)).stream()
                            .filter(t -> t.state() != 'T' && t.state() != 't' && t.state() != '?')
                            .collect(Collectors.toList());
                    thaw();
                    throw new FreezeTimeoutException(group.toString(), deadline, "not stopped", stuck);
                }
            }
        } catch (FreezeTimeoutException e) {
            throw e;
        } catch (IOException | RuntimeException e) {
            try {
                thaw();
            } catch (IOException thawFailure) {
                e.addSuppressed(thawFailure);
            }
            throw e;
        }
        long micros = (System.nanoTime() - start) / 1_000;
        return new FreezeResult(backend(), micros, group.tids().size());
    }

    /** Every thread of every given process is stopped, or the process is gone. */
    private static boolean allStopped(Set<Integer> pids) throws IOException {
        for (int tid : ProcFs.threadsOf(pids)) {
            Optional<ProcFs.Stat> stat = ProcFs.stat(tid);
            if (stat.isPresent() && !stat.get().stopped() && !stat.get().dead()) {
                return false;
            }
        }
        return true;
    }

    @Override
    public void thaw() throws IOException {
        // Also the group's current pids: a thaw after an agent restart has no record of what it stopped.
        Set<Integer> targets = new TreeSet<>(stopped);
        targets.addAll(group.pids());
        for (int pid : targets) {
            Native.kill(pid, SIGCONT);
        }
        stopped.removeAll(targets);
    }

    @Override
    public boolean isFrozen() throws IOException {
        Set<Integer> pids = group.pids();
        return !pids.isEmpty() && allStopped(pids);
    }

    @Override
    public String thawScript() throws IOException {
        Set<Integer> targets = new TreeSet<>(stopped);
        targets.addAll(group.pids());
        if (targets.isEmpty()) {
            return "true";
        }
        String pids = targets.stream().map(String::valueOf).collect(Collectors.joining(" "));
        // The guard is armed before the freeze: it continues these pids and, walking
        // /proc/<pid>/task/*/children as it goes, whatever they forked since (a short-lived child
        // may be among the stopped). One kill per pid, so one that exited stops nothing.
        return "cont() { for p in \"$@\"; do kill -CONT $p 2>/dev/null; cont $(cat /proc/$p/task/*/children 2>/dev/null); done; }; cont "
                + pids;
    }

    @Override
    public String toString() {
        return "SIGSTOP freezer of " + group;
    }
}
