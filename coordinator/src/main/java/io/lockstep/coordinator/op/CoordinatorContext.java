package io.lockstep.coordinator.op;

import io.lockstep.coordinator.agents.AgentClients;
import io.lockstep.coordinator.agents.AgentDirectory;
import io.lockstep.coordinator.store.CheckpointStore;
import io.lockstep.proto.LockHolder;
import io.lockstep.zk.ZkLayout;
import org.apache.curator.framework.CuratorFramework;

import java.lang.management.ManagementFactory;
import java.net.InetAddress;
import java.net.UnknownHostException;
import java.time.Clock;
import java.util.UUID;

/** What every operation step needs: ZooKeeper, the layout, the agents, the store, a clock, and who we are. */
public record CoordinatorContext(CuratorFramework zk, ZkLayout layout, AgentDirectory directory, AgentClients clients,
                                 CheckpointStore store, Clock clock, String coordinatorId) {

    public static CoordinatorContext create(CuratorFramework zk, ZkLayout layout, CheckpointStore store, Clock clock) {
        return create(zk, layout, store, clock, new AgentClients());
    }

    /** With the given channels to agents, e.g. mutual TLS ones. */
    public static CoordinatorContext create(CuratorFramework zk, ZkLayout layout, CheckpointStore store, Clock clock,
                                            AgentClients clients) {
        return new CoordinatorContext(zk, layout, new AgentDirectory(zk, layout), clients, store, clock,
                hostname() + "-" + ProcessHandle.current().pid() + "-" + UUID.randomUUID().toString().substring(0, 8));
    }

    public LockHolder lockHolder(String opId) {
        return LockHolder.newBuilder()
                .setCoordinatorId(coordinatorId)
                .setOpId(opId)
                .setHostname(hostname())
                .setPid((int) ProcessHandle.current().pid())
                .setSinceUnixMs(clock.millis())
                .build();
    }

    static String hostname() {
        try {
            return InetAddress.getLocalHost().getHostName();
        } catch (UnknownHostException e) {
            return ManagementFactory.getRuntimeMXBean().getName();
        }
    }
}
