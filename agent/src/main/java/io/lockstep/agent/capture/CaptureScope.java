package io.lockstep.agent.capture;

import io.lockstep.proto.RestartSpec;
import java.util.List;
import java.util.Map;

/**
 * What to capture and how to label it.
 *
 * @param pids the group's processes on this host (the caller lists them from the group cgroup)
 * @param restartSpecs restart commands recorded by {@code agent run}, by pid
 * @param freezer cgroup-v2 | cgroup-v1 | sigstop
 */
public record CaptureScope(
        String group,
        String hostId,
        String opId,
        long epoch,
        String freezer,
        boolean degraded,
        List<Integer> pids,
        Map<Integer, RestartSpec> restartSpecs) {

    public CaptureScope {
        pids = List.copyOf(pids);
        restartSpecs = Map.copyOf(restartSpecs);
    }
}
