package io.lockstep.zk.testing;

import io.lockstep.zk.ZkClients;
import io.lockstep.zk.ZkLayout;
import io.lockstep.zk.ZkUnavailableException;
import org.apache.curator.framework.CuratorFramework;
import org.apache.curator.test.TestingServer;

import java.time.Duration;
import java.util.UUID;

/**
 * A real ZooKeeper (curator-test) shared by a test class, and a fresh root per test, deleted
 * afterwards, so tests never see each other's nodes.
 */
public final class ZkTestRoot implements AutoCloseable {
    private final TestingServer server;
    private final CuratorFramework zk;
    private final ZkLayout layout;

    private ZkTestRoot(TestingServer server) throws ZkUnavailableException {
        this.server = server;
        this.zk = ZkClients.connect(server.getConnectString(), Duration.ofSeconds(10), Duration.ofSeconds(10));
        this.layout = new ZkLayout("/test-" + UUID.randomUUID().toString().substring(0, 8));
    }

    public static TestingServer startServer() throws Exception {
        return new TestingServer(true);
    }

    public static ZkTestRoot on(TestingServer server) throws ZkUnavailableException {
        return new ZkTestRoot(server);
    }

    public CuratorFramework zk() {
        return zk;
    }

    public ZkLayout layout() {
        return layout;
    }

    public String connectString() {
        return server.getConnectString();
    }

    @Override
    public void close() throws Exception {
        try {
            if (zk.checkExists().forPath(layout.root()) != null) {
                zk.delete().deletingChildrenIfNeeded().forPath(layout.root());
            }
        } finally {
            zk.close();
        }
    }
}
