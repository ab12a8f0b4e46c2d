package io.lockstep.agent.cgroup;

import java.io.IOException;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Optional;
import java.util.Set;

/**
 * The processes of one group on this host: a cgroup under the agent's root, or — with the
 * {@link Backend#SIGSTOP} backend, where there is no cgroup — a pid set kept by the caller plus
 * every descendant of those pids. Get one from {@link CgroupLayout#forGroup(String)} and keep the
 * instance: a pid set lives only in it.
 */
public interface GroupCgroup {
    String name();

    Backend backend();

    /** The cgroup directory; empty for a pid set. */
    Optional<Path> path();

    /** Creates the cgroup (and the agent's root above it) if missing. */
    void create() throws IOException;

    /** Moves a process into the group (for a pid set: adds it, remembering its start time against pid reuse). */
    void addProcess(int pid) throws IOException;

    /** The processes in the group now. */
    Set<Integer> pids() throws IOException;

    /** The threads of every process in the group now. */
    Set<Integer> tids() throws IOException;

    boolean isFrozen() throws IOException;

    /**
     * Kills every process of the group, frozen or not, and waits until none is left.
     *
     * @return false when processes were still there at the timeout
     */
    boolean killAll(Duration timeout) throws IOException;

    /** Removes the cgroup directory; fails naming the pids still inside when it is not empty. */
    void remove() throws IOException;

    /**
     * A command prefix that puts the shell into the group and then execs the command appended to
     * it, so the program starts inside and nothing it forks can escape. Empty for a pid set: the
     * caller {@link #addProcess adds} the pid it started, before the first freeze.
     */
    List<String> entryCommand();

    /** The freezer for this group; the same instance on every call (the SIGSTOP one keeps state). */
    Freezer freezer();
}
