package io.lockstep.coordinator.op;

import io.lockstep.proto.ServerMatch;
import io.lockstep.proto.StagedProcess;
import io.lockstep.proto.StopReply;

import java.util.ArrayList;
import java.util.List;
import java.util.Map;

/**
 * A committed restore: which processes now run where, how many locks were re-taken, how long each
 * phase took, which running processes of the group {@code --replace} stopped first, per target
 * host how each recorded network export was matched to a mount there, per host what failed in
 * the release after the commit (empty when every process was started), and which handed-over
 * flock/OFD locks their programs did not take again in time.
 */
public record RestoreResult(String checkpointId, String group, String opId, long epoch,
                            Map<String, List<StagedProcess>> processesByHost, Map<String, Integer> locksByHost,
                            boolean fastPath, Map<String, Long> phaseMicros, List<StopReply> stopped,
                            Map<String, List<ServerMatch>> serverMatchesByHost, Map<String, String> releaseFailures,
                            List<String> handOverTimeouts) {
    /** Committed and every process released into its program. */
    public boolean fullyReleased() {
        return releaseFailures.isEmpty();
    }

    /** What {@code --replace} stopped, per host: "host h1 pids 12 (SIGTERM), 13 (SIGKILL); host h2 ...". */
    public static String describeStopped(List<StopReply> stopped) {
        List<String> hosts = new ArrayList<>();
        for (StopReply reply : stopped) {
            List<String> pids = new ArrayList<>();
            reply.getTerminatedList().forEach(pid -> pids.add(pid + " (SIGTERM)"));
            reply.getKilledList().forEach(pid -> pids.add(pid + " (SIGKILL)"));
            hosts.add("host " + reply.getHostId() + " pids " + String.join(", ", pids));
        }
        return String.join("; ", hosts);
    }
}
