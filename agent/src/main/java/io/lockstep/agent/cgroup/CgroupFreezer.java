package io.lockstep.agent.cgroup;

import java.io.IOException;
import java.time.Instant;
import java.util.List;
import java.util.stream.Collectors;

/** A freeze the kernel performs for a whole cgroup: request it, then wait for the cgroup to report it done. */
abstract class CgroupFreezer implements Freezer {
    final CgroupDirectoryGroup group;

    CgroupFreezer(CgroupDirectoryGroup group) {
        this.group = group;
    }

    abstract void requestFreeze() throws IOException;

    /** Waits until the kernel reports the group frozen; false at the deadline. */
    boolean awaitFrozen(Instant deadline) throws IOException {
        return BoundedWait.until(this::isFrozen, deadline);
    }

    /** Whether /proc shows this task frozen the way this kernel freezer freezes, for the timeout report. */
    abstract boolean looksFrozen(TaskReport task);

    @Override
    public FreezeResult freeze(Instant deadline) throws IOException {
        if (!Instant.now().isBefore(deadline)) {
            throw new FreezeTimeoutException(group.path.toString(), deadline,
                    "deadline passed before the freeze started, not frozen", ProcFs.reports(group.tids()));
        }
        long start = System.nanoTime();
        boolean frozen;
        try {
            requestFreeze();
            frozen = awaitFrozen(deadline);
        } catch (IOException | RuntimeException e) {
            thawAfter(e);
            throw e;
        }
        long micros = (System.nanoTime() - start) / 1_000;
        if (!frozen) {
            // Read before thawing: afterwards every task looks alike.
            List<TaskReport> stuck = stuckTasks();
            thaw();
            throw new FreezeTimeoutException(group.path.toString(), deadline, "not frozen", stuck);
        }
        return new FreezeResult(backend(), micros, group.taskCount());
    }

    private List<TaskReport> stuckTasks() throws IOException {
        List<TaskReport> all = ProcFs.reports(group.tids());
        List<TaskReport> stuck = all.stream().filter(t -> !looksFrozen(t)).collect(Collectors.toList());
        // The kernel may finish between its answer and our look at /proc: then name them all.
        return stuck.isEmpty() ? all : stuck;
    }

    private void thawAfter(Exception failure) {
        try {
            thaw();
        } catch (IOException e) {
            failure.addSuppressed(e);
        }
    }

    @Override
    public String toString() {
        return backend() + " freezer of " + group.path;
    }
}
