package io.lockstep.agent.server;

import io.lockstep.proto.HostRecord;
import io.lockstep.zk.ZkJson;
import io.lockstep.zk.ZkLayout;
import org.apache.curator.framework.CuratorFramework;
import org.apache.curator.framework.recipes.nodes.PersistentNode;
import org.apache.zookeeper.CreateMode;
import org.apache.zookeeper.KeeperException;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.io.IOException;
import java.time.Duration;
import java.util.Map;
import java.util.Optional;
import java.util.Set;
import java.util.TreeSet;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;

/**
 * The agent's nodes in ZooKeeper. hosts/<host> is ephemeral: it says the agent is live, and
 * Curator's {@link PersistentNode} re-creates it after a session expires. groups/<g>/members/<host>
 * is persistent: the host is a member while the group has processes here, across sessions and
 * agent restarts, so that a checkpoint can never leave out a host whose agent is down. Only this
 * agent ends a membership, when it sees the group's last process gone (or an operator drops it).
 */
public final class AgentRegistration implements AutoCloseable {
    private static final Logger LOG = LoggerFactory.getLogger(AgentRegistration.class);
    /** How often the agent looks for groups whose processes are all gone, and retries memberships ZooKeeper missed. */
    static final Duration SWEEP_INTERVAL = Duration.ofSeconds(1);

    private final CuratorFramework zk;
    private final ZkLayout layout;
    private final String hostId;
    /** Groups this host is a member of (its node may still wait for ZooKeeper to answer). */
    private final Set<String> memberships = ConcurrentHashMap.newKeySet();
    /** Joins and the sweep's leave of one group never interleave (see {@link #sweep}). */
    private final Map<String, Object> groupLocks = new ConcurrentHashMap<>();
    private final ScheduledExecutorService sweeper = Executors.newSingleThreadScheduledExecutor(r -> {
        Thread thread = new Thread(r, "membership-sweep");
        thread.setDaemon(true);
        return thread;
    });
    private PersistentNode hostNode;
    /** What {@link #start} registered, without the hooked groups. */
    private HostRecord record;
    private final Set<String> hookedGroups = ConcurrentHashMap.newKeySet();

    public AgentRegistration(CuratorFramework zk, ZkLayout layout, String hostId) {
        this.zk = zk;
        this.layout = layout;
        this.hostId = hostId;
    }

    /**
     * This host has a program with a pre-freeze hook in the group: its registration lists the
     * group ({@code HostRecord.hooked_groups}) before this returns, so that a checkpoint opened
     * after it runs the hooks round. Never unlisted while the agent runs (a stale entry costs
     * one round, a missing one would skip a hook).
     */
    public synchronized void hooked(String group) {
        if (!hookedGroups.add(group) || hostNode == null) {
            return; // listed already, or listed when the host registers
        }
        byte[] data = ZkJson.toBytes(record.toBuilder().clearHookedGroups().addAllHookedGroups(new TreeSet<>(hookedGroups))
                .build());
        try {
            // The node's own copy first: a node made again after a session loss lists the group too.
            hostNode.setData(data);
            zk.setData().forPath(layout.host(hostId), data);
        } catch (Exception e) {
            LOG.warn("group {}: host {}'s registration does not list the group's hook yet ({}); it will once ZooKeeper "
                    + "answers", group, hostId, e.toString());
        }
    }

    /** Registers the host (once its endpoint is known) and waits, bounded, until the node exists. */
    public synchronized void start(HostRecord registered, Duration timeout) throws IOException, InterruptedException {
        record = registered;
        HostRecord listed = registered.toBuilder().addAllHookedGroups(new TreeSet<>(hookedGroups)).build();
        hostNode = new PersistentNode(zk, CreateMode.EPHEMERAL, false, layout.host(hostId), ZkJson.toBytes(listed));
        AtomicBoolean created = new AtomicBoolean();
        hostNode.getListenable().addListener(path -> {
            if (!created.compareAndSet(false, true)) {
                LOG.info("re-registered as {} after the ZooKeeper session was lost", path);
            }
        });
        hostNode.start();
        if (!hostNode.waitForInitialCreate(timeout.toMillis(), TimeUnit.MILLISECONDS)) {
            throw new IOException("could not register " + layout.host(hostId) + " within " + timeout.toMillis() + " ms");
        }
    }

    /** Starts ending the memberships of groups whose processes on this host are all gone. */
    public void sweepEvery(GroupRegistry groups, Duration interval) {
        sweeper.scheduleWithFixedDelay(() -> sweep(groups), interval.toMillis(), interval.toMillis(),
                TimeUnit.MILLISECONDS);
    }

    /**
     * This host has processes of the group (call it after they are in the group's cgroup).
     *
     * @return whether ZooKeeper has the membership node now; if not, the sweep creates it once ZooKeeper answers
     */
    public boolean join(String group) {
        synchronized (lockOf(group)) {
            memberships.add(group);
            return ensure(group);
        }
    }

    /**
     * One pass: a group with no process left here ends its membership; a group with processes has
     * its membership node (created again if it is missing). The pid check and the delete run under the group's lock, and a
     * join runs after its process entered the cgroup, so a process that joins while the sweep runs
     * either is seen here or re-creates the node after the delete.
     */
    void sweep(GroupRegistry groups) {
        if (!zk.getZookeeperClient().isConnected()) {
            return;
        }
        for (String group : memberships) {
            synchronized (lockOf(group)) {
                try {
                    Optional<ManagedGroup> managed = groups.find(group);
                    if (managed.isEmpty() || managed.get().cgroup().pids().isEmpty()) {
                        leave(group);
                    } else {
                        // Also after an operator dropped it while this agent was not live (paused,
                        // cut off): the group still has processes here, so the host is a member.
                        ensure(group);
                    }
                } catch (Exception e) {
                    LOG.warn("group {}: membership of host {} not updated, retrying: {}", group, hostId, e.toString());
                }
            }
        }
    }

    /** Ends this host's membership of the group: its last process here is gone. */
    public void leave(String group) throws Exception {
        synchronized (lockOf(group)) {
            try {
                zk.delete().forPath(layout.member(group, hostId));
            } catch (KeeperException.NoNodeException alreadyGone) {
                // Dropped by an operator, or never created.
            }
            if (memberships.remove(group)) {
                LOG.info("group {}: no process left on host {}, membership ended", group, hostId);
            }
        }
    }

    private boolean ensure(String group) {
        try {
            String member = layout.member(group, hostId);
            if (zk.checkExists().forPath(member) == null) {
                zk.create().creatingParentContainersIfNeeded().withMode(CreateMode.PERSISTENT).forPath(member);
                LOG.info("group {}: host {} is a member (membership node created)", group, hostId);
            }
        } catch (KeeperException.NodeExistsException present) {
            // A member already (across a restart of this agent, or joined before).
        } catch (Exception e) {
            LOG.warn("group {}: membership node {} not created yet, the sweep retries: {}", group,
                    layout.member(group, hostId), e.toString());
            return false;
        }
        return true;
    }

    private Object lockOf(String group) {
        return groupLocks.computeIfAbsent(group, g -> new Object());
    }

    /** Ends the agent's liveness; memberships stay, because the processes do. */
    @Override
    public void close() throws IOException {
        sweeper.shutdownNow();
        try {
            sweeper.awaitTermination(10, TimeUnit.SECONDS);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
        if (hostNode != null) {
            hostNode.close();
        }
    }
}
