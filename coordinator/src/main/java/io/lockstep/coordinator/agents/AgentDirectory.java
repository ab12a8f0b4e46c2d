package io.lockstep.coordinator.agents;

import io.lockstep.proto.HostRecord;
import io.lockstep.zk.ZkJson;
import io.lockstep.zk.ZkLayout;
import org.apache.curator.framework.CuratorFramework;
import org.apache.zookeeper.KeeperException;

import java.util.ArrayList;
import java.util.List;
import java.util.Optional;

/** Which agents are alive (hosts/<host>, ephemeral) and which hosts have processes of a group. */
public final class AgentDirectory {
    private final CuratorFramework zk;
    private final ZkLayout layout;

    public AgentDirectory(CuratorFramework zk, ZkLayout layout) {
        this.zk = zk;
        this.layout = layout;
    }

    public Optional<HostRecord> host(String hostId) throws Exception {
        String path = layout.host(hostId);
        try {
            return Optional.of(ZkJson.parse(zk.getData().forPath(path), HostRecord.getDefaultInstance(), path));
        } catch (KeeperException.NoNodeException gone) {
            return Optional.empty();
        }
    }

    public List<HostRecord> liveHosts() throws Exception {
        List<HostRecord> hosts = new ArrayList<>();
        for (String id : children(layout.hosts())) {
            host(id).ifPresent(hosts::add);
        }
        return hosts;
    }

    /** Hosts with an ephemeral membership node for the group, sorted. */
    public List<String> members(String group) throws Exception {
        List<String> members = new ArrayList<>(children(layout.members(group)));
        members.sort(String::compareTo);
        return members;
    }

    public List<String> groups() throws Exception {
        List<String> groups = new ArrayList<>(children(layout.groups()));
        groups.sort(String::compareTo);
        return groups;
    }

    private List<String> children(String path) throws Exception {
        try {
            return zk.getChildren().forPath(path);
        } catch (KeeperException.NoNodeException none) {
            return List.of();
        }
    }
}
