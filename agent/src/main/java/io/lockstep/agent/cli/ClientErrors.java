package io.lockstep.agent.cli;

import io.grpc.Status;
import io.grpc.StatusRuntimeException;
import io.lockstep.cli.JsonText;
import picocli.CommandLine.Model.CommandSpec;

import java.io.PrintWriter;

/**
 * How agent subcommands report a failure: one line on stderr and an exit code by cause; under
 * {@code --json} the same failure is also a JSON object on stdout (docs/json.md, {@code object error}).
 */
final class ClientErrors {
    /** Reasons of failures outside a refused call (a refused call's reason is its gRPC status code). */
    static final String UNREACHABLE = "AGENT_UNREACHABLE";
    static final String USAGE = "USAGE";
    static final String UNKNOWN_GROUP = "UNKNOWN_GROUP";
    static final String MANIFEST_UNUSABLE = "MANIFEST_UNUSABLE";
    static final String INTERNAL = "INTERNAL_ERROR";

    private ClientErrors() {
    }

    /** Reports a failed call to the agent at {@code address}; RPC commands without --json. */
    static int report(CommandSpec spec, String call, String address, StatusRuntimeException e) {
        return report(spec, false, call, address, e);
    }

    static int report(CommandSpec spec, boolean json, String call, String address, StatusRuntimeException e) {
        Status status = e.getStatus();
        if (status.getCode() == Status.Code.UNAVAILABLE) {
            String cause = status.getCause() != null && status.getCause().getMessage() != null
                    ? status.getCause().getMessage() : "";
            return fail(spec, json, call, AgentMain.AGENT_UNREACHABLE, UNREACHABLE, "no agent answers at " + address
                    + (cause.contains("Permission denied") ? ": Permission denied (the socket admits root and the"
                            + " members of the agent's --socket-group, default lockstep)"
                            : " (start one with 'agent serve', or pass --agent)"));
        }
        int code = status.getCode() == Status.Code.INVALID_ARGUMENT ? AgentMain.BAD_ARGUMENTS : AgentMain.FAILED;
        return fail(spec, json, call, code, status.getCode().name(), status.getCode() + ": " + status.getDescription());
    }

    /** Prints "agent CALL: MESSAGE" on stderr (and, with {@code json}, the error object on stdout); returns {@code code}. */
    static int fail(CommandSpec spec, boolean json, String call, int code, String reason, String message) {
        if (json) {
            PrintWriter out = spec.commandLine().getOut();
            out.println(JsonText.error(code, reason, message));
            out.flush();
        }
        PrintWriter err = spec.commandLine().getErr();
        err.println("agent " + call + ": " + message);
        err.flush();
        return code;
    }
}
