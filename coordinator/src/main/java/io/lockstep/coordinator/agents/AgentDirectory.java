package io.lockstep.coordinator.agents;

import io.lockstep.zk.PipelinedReads;
import io.lockstep.proto.HostRecord;
import io.lockstep.zk.ZkJson;
import io.lockstep.zk.ZkLayout;
import org.apache.curator.framework.CuratorFramework;
import org.apache.zookeeper.KeeperException;

import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.CompletableFuture;

/**
 * Which agents are live (hosts/<host>, ephemeral) and which hosts are members of a group
 * (groups/<g>/members/<host>, persistent: the host has processes of the group, whether or not its
 * agent runs).
 */
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

    /** Hosts that are members of the group, sorted. */
    public List<String> members(String group) throws Exception {
        List<String> members = new ArrayList<>(children(layout.members(group)));
        members.sort(String::compareTo);
        return members;
    }

    /** A member host of a group, and whether its agent is live now. */
    public record Member(String host, boolean live) {
    }

    /** The group's members, sorted, each with its agent's liveness. */
    public List<Member> membersWithLiveness(String group) throws Exception {
        List<Member> members = new ArrayList<>();
        membersWithRegistrations(group).forEach((host, record) -> members.add(new Member(host, record.isPresent())));
        return members;
    }

    /**
     * The group's members, sorted, each with its agent's registration (empty when the agent is not
     * live). The registrations are read together: one round trip however many members.
     */
    public Map<String, Optional<HostRecord>> membersWithRegistrations(String group) throws Exception {
        Map<String, CompletableFuture<Optional<byte[]>>> reads = new LinkedHashMap<>();
        for (String host : members(group)) {
            reads.put(host, PipelinedReads.data(zk, layout.host(host)));
        }
        Map<String, Optional<HostRecord>> members = new LinkedHashMap<>();
        for (Map.Entry<String, CompletableFuture<Optional<byte[]>>> read : reads.entrySet()) {
            String path = layout.host(read.getKey());
            Optional<byte[]> data = PipelinedReads.await(read.getValue());
            members.put(read.getKey(), data.isEmpty() ? Optional.empty()
                    : Optional.of(ZkJson.parse(data.get(), HostRecord.getDefaultInstance(), path)));
        }
        return members;
    }

    /**
     * Ends a host's membership of a group, as an operator decides (the agent ends it by itself
     * when it sees the group's last process there exit).
     *
     * @return whether the host was a member
     */
    public boolean dropMember(String group, String host) throws Exception {
        try {
            zk.delete().forPath(layout.member(group, host));
            return true;
        } catch (KeeperException.NoNodeException notAMember) {
            return false;
        }
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
