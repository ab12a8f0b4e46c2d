package io.lockstep.coordinator.cli;

import io.lockstep.coordinator.op.CoordinatorContext;
import io.lockstep.coordinator.op.GroupLock;
import io.lockstep.zk.ZkLayout;
import picocli.CommandLine.Command;
import picocli.CommandLine.Parameters;

import java.io.PrintWriter;

@Command(name = "drop-member", mixinStandardHelpOptions = true,
        description = {
                "Ends a host's membership of a group. A host is a member while the group has processes there; "
                        + "its agent ends the membership when it sees the last one exit. Use this only when the "
                        + "host is gone for good with its processes: later checkpoints no longer include it.",
                "Refused (exit 2) while the host's agent is live (the agent knows whether the group still has processes "
                        + "there), and while an operation holds the group (exit 6)."})
final class DropMemberCommand extends GroupCommand {
    @Parameters(index = "0", paramLabel = "HOST", description = "The member host to drop.")
    String host;

    @Override
    public Integer call() throws Exception {
        ZkLayout.checkName("group", group);
        ZkLayout.checkName("host", host);
        try (CoordinatorSession session = CoordinatorSession.open(connection, spec.commandLine().getErr())) {
            CoordinatorContext ctx = session.context();
            if (ctx.directory().host(host).isPresent()) {
                throw new IllegalArgumentException("refusing to drop host " + host
                        + " from group " + group + ": its agent is live and ends the membership itself when the "
                        + "group's last process there exits");
            }
            boolean dropped;
            try (GroupLock lock = GroupLock.acquire(ctx.zk(), ctx.layout(), group, ctx.lockHolder("drop-member"))) {
                dropped = ctx.directory().dropMember(group, host);
            }
            PrintWriter out = spec.commandLine().getOut();
            out.println(dropped
                    ? "dropped host " + host + " from group " + group + ": later checkpoints leave out whatever of the "
                            + "group still runs there; its agent makes it a member again if it finds processes"
                    : "host " + host + " is not a member of group " + group + "; nothing dropped");
            out.flush();
        }
        return ExitCode.OK.code();
    }
}
