package io.lockstep.agent.cli;

import io.lockstep.cli.JsonText;
import io.grpc.StatusRuntimeException;
import io.lockstep.proto.GroupStatus;
import io.lockstep.proto.StatusReply;
import io.lockstep.proto.StatusRequest;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;
import picocli.CommandLine.Spec;
import picocli.CommandLine.Model.CommandSpec;

import java.io.PrintWriter;
import java.util.List;
import java.util.concurrent.Callable;

@Command(name = "status", mixinStandardHelpOptions = true,
        description = "Ask the local agent what it manages: groups, whether frozen, processes, stubs, newest epoch.")
final class StatusCommand implements Callable<Integer> {
    @Spec
    CommandSpec spec;

    @Mixin
    AgentAddress agent;

    @Option(names = "--group", description = "Only this group.")
    String group;

    @Option(names = "--json", description = "Print JSON.")
    boolean json;

    @Override
    public Integer call() throws Exception {
        try (AgentAddress.Connection connection = agent.connect()) {
            StatusReply all = connection.stub().status(StatusRequest.getDefaultInstance());
            StatusReply reply = group == null ? all : all.toBuilder().clearGroups()
                    .addAllGroups(all.getGroupsList().stream().filter(g -> g.getGroup().equals(group)).toList()).build();
            if (group != null && reply.getGroupsCount() == 0) {
                List<String> known = all.getGroupsList().stream().map(GroupStatus::getGroup).sorted().toList();
                return ClientErrors.fail(spec, json, "status", AgentMain.FAILED, ClientErrors.UNKNOWN_GROUP, "no group "
                        + group + " on host " + all.getHostId() + "; "
                        + (known.isEmpty() ? "it manages no group" : "known: " + String.join(", ", known)));
            }
            PrintWriter out = spec.commandLine().getOut();
            if (json) {
                out.println(JsonText.print(reply));
                return AgentMain.OK;
            }
            out.printf("host %s (agent %s) %s%n", reply.getHostId(), reply.getVersion(), reply.getCapabilitiesList());
            for (GroupStatus g : reply.getGroupsList()) {
                out.printf("  group %-20s %s  %d processes  epoch %d%s%n", g.getGroup(), g.getFrozen() ? "FROZEN" : "running",
                        g.getProcesses(), g.getNewestEpoch(),
                        g.getCurrentOp().isEmpty() ? "" : "  op " + g.getCurrentOp() + (g.getStubs() > 0 ? " (" + g.getStubs() + " stubs)" : ""));
            }
            return AgentMain.OK;
        } catch (StatusRuntimeException e) {
            return ClientErrors.report(spec, json, "status", agent.address, e);
        }
    }
}
