package io.lockstep.coordinator.agents;

import io.grpc.Status;

/** An RPC to one agent failed: names the host, the call and what the agent (or the network) said. */
public final class AgentCallException extends Exception {
    private final String hostId;
    private final String call;
    private final Status.Code code;

    public AgentCallException(String hostId, String call, Status status) {
        super(describe(hostId, call, status), status.getCause());
        this.hostId = hostId;
        this.call = call;
        this.code = status.getCode();
    }

    private static String describe(String hostId, String call, Status status) {
        String what = switch (status.getCode()) {
            case UNAVAILABLE -> "agent unreachable";
            // The agent's own answer (e.g. a freeze that missed its deadline) names the host first.
            case DEADLINE_EXCEEDED -> status.getDescription() != null && status.getDescription().startsWith("host " + hostId + ":")
                    ? "deadline passed on the agent" : "no answer before the deadline";
            case FAILED_PRECONDITION -> "refused";
            default -> status.getCode().name().toLowerCase().replace('_', ' ');
        };
        String detail = status.getDescription() == null ? "" : ": " + status.getDescription();
        return call + " on host " + hostId + " failed (" + what + ")" + detail;
    }

    public String hostId() {
        return hostId;
    }

    public String call() {
        return call;
    }

    public Status.Code code() {
        return code;
    }

    /** The agent refused because the epoch is older than one it has seen. */
    public boolean isStaleEpoch() {
        return code == Status.Code.FAILED_PRECONDITION && getMessage().contains("stale epoch");
    }
}
