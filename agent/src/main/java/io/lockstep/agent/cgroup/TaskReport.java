package io.lockstep.agent.cgroup;

/**
 * One task (thread) as /proc shows it, for naming the tasks a freeze could not stop.
 *
 * @param tid the task id (equals the pid for a process's main thread)
 * @param comm the command name from /proc/&lt;tid&gt;/stat
 * @param state the one-letter state from /proc/&lt;tid&gt;/stat ('?' when the task is gone)
 * @param wchan the kernel function the task sleeps in, from /proc/&lt;tid&gt;/wchan ("0" or "" when running)
 */
public record TaskReport(int tid, String comm, char state, String wchan) {
    @Override
    public String toString() {
        return "tid " + tid + " (" + comm + ") state " + state + " wchan " + (wchan.isEmpty() ? "-" : wchan);
    }
}
