package io.lockstep.agent.server;

import io.lockstep.proto.HostRecord;
import io.lockstep.zk.ZkJson;
import io.lockstep.zk.ZkLayout;
import org.apache.curator.framework.CuratorFramework;
import org.apache.curator.framework.recipes.nodes.PersistentNode;
import org.apache.zookeeper.CreateMode;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.io.IOException;
import java.time.Duration;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;

/**
 * The agent's ephemeral nodes that must survive session changes: hosts/<host> and
 * groups/<g>/members/<host>. Curator's {@link PersistentNode} re-creates them after a session
 * expires, so an agent that was cut off reappears by itself when it reconnects.
 */
public final class AgentRegistration implements AutoCloseable {
    private static final Logger LOG = LoggerFactory.getLogger(AgentRegistration.class);

    private final CuratorFramework zk;
    private final ZkLayout layout;
    private final String hostId;
    private final Map<String, PersistentNode> memberships = new ConcurrentHashMap<>();
    private PersistentNode hostNode;

    public AgentRegistration(CuratorFramework zk, ZkLayout layout, String hostId) {
        this.zk = zk;
        this.layout = layout;
        this.hostId = hostId;
    }

    /** Registers the host (once its endpoint is known) and waits, bounded, until the node exists. */
    public void start(HostRecord record, Duration timeout) throws IOException, InterruptedException {
        hostNode = new PersistentNode(zk, CreateMode.EPHEMERAL, false, layout.host(hostId), ZkJson.toBytes(record));
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

    /** This host has processes of the group. */
    public void join(String group) {
        memberships.computeIfAbsent(group, g -> {
            PersistentNode node = new PersistentNode(zk, CreateMode.EPHEMERAL, false, layout.member(g, hostId), new byte[0]);
            node.start();
            return node;
        });
    }

    public boolean awaitJoined(String group, Duration timeout) throws InterruptedException {
        PersistentNode node = memberships.get(group);
        return node != null && node.waitForInitialCreate(timeout.toMillis(), TimeUnit.MILLISECONDS);
    }

    /** This host no longer has processes of the group. */
    public void leave(String group) throws IOException {
        PersistentNode node = memberships.remove(group);
        if (node != null) {
            node.close();
        }
    }

    @Override
    public void close() throws IOException {
        for (String group : memberships.keySet()) {
            leave(group);
        }
        if (hostNode != null) {
            hostNode.close();
        }
    }
}
