package io.lockstep.agent.cli;

import io.grpc.Status;
import io.grpc.StatusRuntimeException;
import picocli.CommandLine.Model.CommandSpec;

/** How client subcommands report a failed call: one line, and an exit code by cause. */
final class ClientErrors {
    private ClientErrors() {
    }

    static int report(CommandSpec spec, String call, String address, StatusRuntimeException e) {
        Status status = e.getStatus();
        if (status.getCode() == Status.Code.UNAVAILABLE) {
            String cause = status.getCause() != null && status.getCause().getMessage() != null
                    ? status.getCause().getMessage() : "";
            spec.commandLine().getErr().println("agent " + call + ": no agent answers at " + address
                    + (cause.contains("Permission denied") ? ": Permission denied (the socket admits root and the"
                            + " members of the agent's --socket-group, default lockstep)"
                            : " (start one with 'agent serve', or pass --agent)"));
            return AgentMain.AGENT_UNREACHABLE;
        }
        spec.commandLine().getErr().println("agent " + call + ": " + status.getCode() + ": " + status.getDescription());
        return status.getCode() == Status.Code.INVALID_ARGUMENT ? AgentMain.BAD_ARGUMENTS : AgentMain.FAILED;
    }
}
