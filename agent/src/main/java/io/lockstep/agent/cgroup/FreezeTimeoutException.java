package io.lockstep.agent.cgroup;

import java.io.IOException;
import java.time.Instant;
import java.util.List;
import java.util.stream.Collectors;

/** A freeze that did not complete by its deadline. The group has been thawed again. */
public final class FreezeTimeoutException extends IOException {
    /** Enough tasks to diagnose a stuck group without a multi-megabyte message for a huge one. */
    private static final int LISTED = 50;

    private final String group;
    private final Instant deadline;
    private final List<TaskReport> unfrozen;

    FreezeTimeoutException(String group, Instant deadline, String what, List<TaskReport> unfrozen) {
        super(group + ": " + what + " by " + deadline + "; thawed again; tasks not frozen: " + list(unfrozen));
        this.group = group;
        this.deadline = deadline;
        this.unfrozen = List.copyOf(unfrozen);
    }

    private static String list(List<TaskReport> tasks) {
        String listed = tasks.stream().limit(LISTED).map(TaskReport::toString).collect(Collectors.joining(", ", "[", "]"));
        return tasks.size() > LISTED ? listed + " and " + (tasks.size() - LISTED) + " more" : listed;
    }

    /** The group: its cgroup path, or its pid set. */
    public String group() {
        return group;
    }

    public Instant deadline() {
        return deadline;
    }

    /** The tasks that were not frozen at the deadline, as /proc showed them then. */
    public List<TaskReport> unfrozen() {
        return unfrozen;
    }
}
