package io.lockstep.coordinator.cli;

import io.lockstep.cli.JsonText;
import io.lockstep.manifest.ManifestFormatException;
import io.lockstep.coordinator.agents.AgentCallException;
import io.lockstep.coordinator.op.OperationFailedException;
import io.lockstep.coordinator.store.StoreCorruptionException;
import io.lockstep.zk.ZkAuth;
import io.lockstep.zk.ZkUnavailableException;
import org.apache.zookeeper.KeeperException;
import picocli.CommandLine;

import java.io.PrintWriter;

/**
 * Turns whatever a command threw into one clear line on stderr and an {@link ExitCode}; with
 * {@code -v} the stack trace follows, for bug reports. Under {@code --json} the same error is also
 * a JSON object on stdout: {@code {"error":{"code":…,"reason":…,"message":…}}}.
 */
final class ErrorReporter implements CommandLine.IExecutionExceptionHandler {
    /**
     * A failure as the operator sees it; {@code reason} is the operation's {@link
     * io.lockstep.coordinator.op.FailureReason} when one failed, else the exit code's name.
     */
    record Report(ExitCode exit, String reason, String message) {
        Report(ExitCode exit, String message) {
            this(exit, exit.name(), message);
        }
    }

    @Override
    public int handleExecutionException(Exception failure, CommandLine commandLine, CommandLine.ParseResult parsed) {
        Report report = classify(failure);
        if (commandLine.getParseResult() != null && commandLine.getParseResult().hasMatchedOption("--json")) {
            PrintWriter out = commandLine.getOut();
            out.println(JsonText.error(report.exit().code(), report.reason(), report.message()));
            out.flush();
        }
        PrintWriter err = commandLine.getErr();
        err.println("lockstep: " + report.message());
        if (Logging.isVerbose()) {
            failure.printStackTrace(err);
        }
        err.flush();
        return report.exit().code();
    }

    static Report classify(Throwable failure) {
        if (failure instanceof OperationFailedException op) {
            String host = op.hostId().filter(id -> !op.getMessage().contains(id)).map(id -> " (host " + id + ")").orElse("");
            return new Report(ExitCode.of(op.reason()), op.reason().name(), op.getMessage() + host);
        }
        if (failure instanceof ZkUnavailableException) {
            return new Report(ExitCode.ZK_UNAVAILABLE, failure.getMessage());
        }
        if (failure instanceof KeeperException.ConnectionLossException
                || failure instanceof KeeperException.SessionExpiredException
                || failure instanceof KeeperException.OperationTimeoutException) {
            return new Report(ExitCode.ZK_UNAVAILABLE, "lost ZooKeeper: " + failure.getMessage());
        }
        if (failure instanceof KeeperException.NoAuthException noAuth) {
            return new Report(ExitCode.USAGE, "ZooKeeper refused access to " + noAuth.getPath()
                    + ": pass the credentials the agents use with --zk-auth or $" + ZkAuth.ENV);
        }
        if (failure instanceof StoreCorruptionException || failure instanceof ManifestFormatException) {
            return new Report(ExitCode.CHECKPOINT_UNUSABLE, failure.getMessage());
        }
        if (failure instanceof AgentCallException agent) {
            return new Report(ExitCode.AGENT_UNAVAILABLE, agent.getMessage());
        }
        if (failure instanceof IllegalArgumentException) {
            return new Report(ExitCode.USAGE, failure.getMessage());
        }
        return new Report(ExitCode.INTERNAL_ERROR, "internal error: " + failure
                + (Logging.isVerbose() ? "" : " (run with -v for details)"));
    }
}
