package io.lockstep.agent.cli;

import io.lockstep.agent.hooks.HookSignals;
import io.lockstep.cli.DurationConverter;
import io.lockstep.proto.Hook;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.ParameterException;
import picocli.CommandLine.Spec;

import java.time.Duration;
import java.util.Optional;

/** The application-hook options of `agent run` and `agent adopt` (issue 15): one spelling, one meaning for both. */
final class HookOptions {
    @Spec(Spec.Target.MIXEE)
    CommandSpec spec;

    @Option(names = "--hook-command", paramLabel = "CMD",
            description = {"Before every checkpoint freezes the group (on any host), run CMD with /bin/sh -c as this "
                    + "program's user, in its working directory, with its environment plus LOCKSTEP_HOOK=pre-freeze, "
                    + "LOCKSTEP_CHECKPOINT=<id>, LOCKSTEP_PID=<its pid>, LOCKSTEP_GROUP. Exit status 0 means ready "
                    + "(e.g. the program flushed its state); any other status, or no exit within --hook-timeout, "
                    + "aborts the checkpoint, naming this program. After the checkpoint's decision, once the host "
                    + "thawed, CMD runs again with LOCKSTEP_HOOK=post-thaw and LOCKSTEP_OUTCOME=COMMIT or ABORT "
                    + "(not waited for). Its output goes to the program's output file. Kept across agent restarts "
                    + "and restores."})
    String hookCommand;

    @Option(names = "--hook-signal", paramLabel = "SIG",
            description = {"Before every checkpoint freezes the group, send SIG (e.g. USR1, SIGUSR2, 10) to the program. "
                    + "It finds the request in the file $LOCKSTEP_HOOK_REQUEST (shell assignments: LOCKSTEP_HOOK, "
                    + "LOCKSTEP_CHECKPOINT, LOCKSTEP_PID, LOCKSTEP_GROUP) and answers ready by writing the "
                    + "LOCKSTEP_CHECKPOINT value to the file $LOCKSTEP_HOOK_ACK within --hook-timeout, or the "
                    + "checkpoint aborts. After the decision: SIG again, the request then saying "
                    + "LOCKSTEP_HOOK=post-thaw and LOCKSTEP_OUTCOME=COMMIT or ABORT (no answer expected). With "
                    + "--hook-command too, the command runs first. An adopted program started without these "
                    + "variables: `agent adopt` prints both files' names."})
    String hookSignal;

    @Option(names = "--hook-timeout", paramLabel = "DURATION", defaultValue = "10s", converter = DurationConverter.class,
            description = "How long a pre-freeze hook may take before the checkpoint aborts (500ms, 10s, 1m; default: "
                    + "${DEFAULT-VALUE}). The post-thaw hook command is killed after as long.")
    Duration hookTimeout;

    /** The hook the options ask for; empty when neither --hook-command nor --hook-signal is given. */
    Optional<Hook> hook() {
        if (hookCommand == null && hookSignal == null) {
            return Optional.empty();
        }
        Hook.Builder hook = Hook.newBuilder().setTimeoutMs(hookTimeout.toMillis());
        if (hookCommand != null) {
            if (hookCommand.isBlank()) {
                throw new ParameterException(spec.commandLine(), "--hook-command is empty");
            }
            hook.setCommand(hookCommand);
        }
        if (hookSignal != null) {
            try {
                hook.setSignal(HookSignals.parse(hookSignal));
            } catch (IllegalArgumentException e) {
                throw new ParameterException(spec.commandLine(), "--hook-signal: " + e.getMessage());
            }
        }
        return Optional.of(hook.build());
    }
}
