package io.lockstep.agent.cli;

import io.grpc.StatusRuntimeException;
import io.lockstep.proto.AdoptReply;
import io.lockstep.proto.AdoptRequest;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;
import picocli.CommandLine.Spec;
import picocli.CommandLine.Model.CommandSpec;

import java.util.concurrent.Callable;

@Command(name = "adopt", mixinStandardHelpOptions = true,
        description = {"Move a running process and its descendants into a group; its command line, cwd and "
                + "environment (from /proc) become its restart spec.",
            "The --hook-* options give the process a pre-freeze hook and a post-thaw notification, as `agent run` does."})
final class AdoptCommand implements Callable<Integer> {
    @Spec
    CommandSpec spec;

    @Mixin
    AgentAddress agent;

    @Option(names = "--group", required = true, description = "The group the process joins.")
    String group;

    @Mixin
    HookOptions hooks;

    @Parameters(paramLabel = "PID", description = "The process to adopt.")
    int pid;

    @Override
    public Integer call() throws Exception {
        AdoptRequest.Builder request = AdoptRequest.newBuilder().setGroup(group).setPid(pid);
        hooks.hook().ifPresent(request::setHook);
        try (AgentAddress.Connection connection = agent.connect()) {
            AdoptReply reply = connection.stub().adopt(request.build());
            spec.commandLine().getOut().println("adopted pid " + reply.getPid() + " (" + reply.getTasks()
                    + " processes) into group " + group);
            if (!reply.getHookRequest().isEmpty()) {
                // The program was started without the variables `agent run` gives: it must be told where to look.
                spec.commandLine().getOut().println("hook: the program reads its request from " + reply.getHookRequest()
                        + " and answers in " + reply.getHookAck() + " (LOCKSTEP_HOOK_REQUEST, LOCKSTEP_HOOK_ACK)");
            }
            return AgentMain.OK;
        } catch (StatusRuntimeException e) {
            return ClientErrors.report(spec, "adopt", agent.address, e);
        }
    }
}
