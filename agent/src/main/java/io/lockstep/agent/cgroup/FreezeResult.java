package io.lockstep.agent.cgroup;

/**
 * A completed freeze.
 *
 * @param backend how the group was frozen ({@link Backend#degraded()} for SIGSTOP)
 * @param micros from the freeze request to the kernel reporting the group frozen
 * @param tasks the number of tasks (threads) frozen
 */
public record FreezeResult(Backend backend, long micros, int tasks) {
    public boolean degraded() {
        return backend.degraded();
    }
}
