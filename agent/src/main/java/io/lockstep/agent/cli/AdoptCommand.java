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
        description = "Move a running process and its descendants into a group; its command line, cwd and "
                + "environment (from /proc) become its restart spec.")
final class AdoptCommand implements Callable<Integer> {
    @Spec
    CommandSpec spec;

    @Mixin
    AgentAddress agent;

    @Option(names = "--group", required = true, description = "The group the process joins.")
    String group;

    @Parameters(paramLabel = "PID", description = "The process to adopt.")
    int pid;

    @Override
    public Integer call() throws Exception {
        try (AgentAddress.Connection connection = agent.connect()) {
            AdoptReply reply = connection.stub().adopt(AdoptRequest.newBuilder().setGroup(group).setPid(pid).build());
            spec.commandLine().getOut().println("adopted pid " + reply.getPid() + " (" + reply.getTasks()
                    + " processes) into group " + group);
            return AgentMain.OK;
        } catch (StatusRuntimeException e) {
            return ClientErrors.report(spec, "adopt", agent.address, e);
        }
    }
}
