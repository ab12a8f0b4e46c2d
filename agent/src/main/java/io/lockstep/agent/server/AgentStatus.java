package io.lockstep.agent.server;

import io.lockstep.proto.GroupStatus;
import io.lockstep.proto.StatusReply;
import io.lockstep.proto.StatusRequest;

import java.io.IOException;
import java.util.List;
import java.util.Set;

/** What the agent answers to Status: itself, and per group whether it is frozen and what runs. */
final class AgentStatus {
    static final String VERSION = AgentStatus.class.getPackage().getImplementationVersion() == null
            ? "dev" : AgentStatus.class.getPackage().getImplementationVersion();

    private final String hostId;
    private final List<String> capabilities;
    private final GroupRegistry groups;
    private final EpochFence fence;

    AgentStatus(String hostId, List<String> capabilities, GroupRegistry groups, EpochFence fence) {
        this.hostId = hostId;
        this.capabilities = capabilities;
        this.groups = groups;
        this.fence = fence;
    }

    StatusReply status(StatusRequest request) throws IOException {
        StatusReply.Builder reply = StatusReply.newBuilder().setHostId(hostId).setVersion(VERSION)
                .addAllCapabilities(capabilities);
        for (ManagedGroup group : groups.all().values()) {
            if (!request.getGroup().isEmpty() && !request.getGroup().equals(group.name())) {
                continue;
            }
            Set<Integer> pids = group.cgroup().pids();
            GroupStatus.Builder status = GroupStatus.newBuilder()
                    .setGroup(group.name())
                    .setFrozen(group.cgroup().isFrozen())
                    .setProcesses(pids.size())
                    .addAllPids(pids)
                    .setNewestEpoch(fence.newest(group.name()));
            synchronized (group) {
                if (group.frozen() != null) {
                    status.setCurrentOp(group.frozen().op().getOpId());
                }
                if (group.restore() != null) {
                    status.setCurrentOp(group.restore().op().getOpId()).setStubs(group.restore().stubCount());
                    // A stub that died (OOM killer, a kill by the application's uid) dropped its locks:
                    // the coordinator's confirm round must not commit over it.
                    // A live stub can still have lost a lock (an NFS server that lost its lock state, a
                    // process sharing its open file description): each lock it took is looked up again.
                    int[] held = {0};
                    group.restore().stubs().forEach((recorded, staged) -> {
                        if (!staged.handle().running()) {
                            status.addStubsGone("stub pid " + staged.handle().pid() + " of recorded pid "
                                    + recorded.oldPid() + " (host " + recorded.sourceHost() + ") has exited");
                            return;
                        }
                        List<String> missing = StubLocks.missing(staged.handle().pid(), staged.handle().plan(),
                                staged.taken());
                        status.addAllLocksMissing(missing);
                        held[0] += staged.taken().size() - missing.size();
                    });
                    status.setLocksHeld(held[0]);
                }
            }
            reply.addGroups(status);
        }
        return reply.build();
    }
}
