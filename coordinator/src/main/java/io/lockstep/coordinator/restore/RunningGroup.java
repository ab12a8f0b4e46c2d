package io.lockstep.coordinator.restore;

import io.lockstep.coordinator.agents.AgentCallException;
import io.lockstep.coordinator.op.CoordinatorContext;
import io.lockstep.coordinator.op.FailureReason;
import io.lockstep.coordinator.op.OperationFailedException;
import io.lockstep.proto.HostRecord;
import io.lockstep.proto.StatusRequest;
import io.lockstep.proto.StopReply;
import io.lockstep.proto.StopRequest;

import java.time.Duration;
import java.util.ArrayList;
import java.util.Collection;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.TreeMap;
import java.util.stream.Collectors;

/**
 * A restore of a group that still runs would start its programs a second time next to the live
 * ones (and wait on their locks as if they were outsiders'). Before anything is staged, every
 * live agent among the restore's source and target hosts is asked for the group's processes:
 * any found refuse the restore, or, with {@code --replace}, are stopped first.
 */
final class RunningGroup {
    private final CoordinatorContext ctx;
    private final String group;
    private final Duration rpcTimeout;

    RunningGroup(CoordinatorContext ctx, String group, Duration rpcTimeout) {
        this.ctx = ctx;
        this.group = group;
        this.rpcTimeout = rpcTimeout;
    }

    /** The group's live pids per host, sorted by host; hosts without a live agent have nothing running to ask about. */
    Map<String, List<Integer>> find(Collection<String> hosts) throws Exception {
        Map<String, List<Integer>> running = new TreeMap<>();
        for (String host : hosts.stream().distinct().sorted().toList()) {
            Optional<HostRecord> record = ctx.directory().host(host);
            if (record.isEmpty()) {
                continue;
            }
            List<Integer> pids = ctx.clients().forHost(record.get())
                    .status(StatusRequest.newBuilder().setGroup(group).build(), rpcTimeout).getGroupsList().stream()
                    .filter(status -> status.getGroup().equals(group))
                    .flatMap(status -> status.getPidsList().stream())
                    .toList();
            if (!pids.isEmpty()) {
                running.put(host, pids);
            }
        }
        return running;
    }

    /** Refuses a restore while the group runs, naming host and pids. */
    void refuseIfRunning(Collection<String> hosts) throws Exception {
        Map<String, List<Integer>> running = find(hosts);
        if (!running.isEmpty()) {
            throw new OperationFailedException(FailureReason.GROUP_RUNNING, running.keySet().iterator().next(),
                    "group " + group + " is still running: " + describe(running) + "; nothing was staged. Stop it first, "
                            + "or restore with --replace to stop it (SIGTERM, then SIGKILL after --replace-grace)");
        }
    }

    /** Stops the group's processes on every host where it runs (SIGTERM, SIGKILL after {@code grace}). */
    List<StopReply> stop(Collection<String> hosts, Duration grace) throws Exception {
        List<StopReply> stopped = new ArrayList<>();
        for (Map.Entry<String, List<Integer>> host : find(hosts).entrySet()) {
            HostRecord record = ctx.directory().host(host.getKey()).orElseThrow(() -> new OperationFailedException(
                    FailureReason.AGENT_UNAVAILABLE, host.getKey(), "host " + host.getKey()
                    + " left while its processes of group " + group + " were to be stopped"));
            try {
                stopped.add(ctx.clients().forHost(record).stop(StopRequest.newBuilder().setGroup(group)
                        .setGraceMs(grace.toMillis()).build(), grace.plus(rpcTimeout)));
            } catch (AgentCallException e) {
                throw new OperationFailedException(FailureReason.GROUP_RUNNING, host.getKey(), "could not stop group "
                        + group + " on host " + host.getKey() + " (pids " + host.getValue() + "): " + e.getMessage(), e);
            }
        }
        return stopped;
    }

    static String describe(Map<String, List<Integer>> running) {
        return running.entrySet().stream().map(host -> "host " + host.getKey() + " pids " + host.getValue().stream()
                .map(String::valueOf).collect(Collectors.joining(", "))).collect(Collectors.joining("; "));
    }
}
