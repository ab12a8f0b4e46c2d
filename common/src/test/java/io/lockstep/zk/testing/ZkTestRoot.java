package io.lockstep.zk.testing;

import io.lockstep.zk.ZkClients;
import io.lockstep.zk.ZkLayout;
import org.apache.curator.framework.CuratorFramework;
import org.apache.curator.test.TestingServer;
import org.junit.jupiter.api.extension.AfterEachCallback;
import org.junit.jupiter.api.extension.BeforeEachCallback;
import org.junit.jupiter.api.extension.ExtensionContext;

import java.time.Duration;
import java.util.UUID;

/**
 * A real ZooKeeper (curator-test) and a fresh root per test, deleted afterwards, so tests never see
 * each other's nodes. Register it on an instance field:
 * <pre>{@code @RegisterExtension final ZkTestRoot root = new ZkTestRoot();}</pre>
 * Its session and root exist before the test's own {@code @BeforeEach} methods run and are removed
 * after its {@code @AfterEach} methods. The server is started once per test JVM and stopped when the
 * run ends (JUnit closes it with the root context's store), also after a failed test.
 */
public final class ZkTestRoot implements BeforeEachCallback, AfterEachCallback {
    private static final ExtensionContext.Namespace NAMESPACE = ExtensionContext.Namespace.create(ZkTestRoot.class);

    private TestingServer server;
    private CuratorFramework zk;
    private ZkLayout layout;

    /** The server of the whole run, closed by JUnit at its end. */
    private record SharedServer(TestingServer server) implements AutoCloseable {
        static SharedServer start() {
            try {
                return new SharedServer(new TestingServer(true));
            } catch (Exception e) {
                throw new IllegalStateException("cannot start the test ZooKeeper: " + e, e);
            }
        }

        @Override
        public void close() throws Exception {
            server.close();
        }
    }

    @Override
    public void beforeEach(ExtensionContext context) throws Exception {
        server = context.getRoot().getStore(NAMESPACE)
                .getOrComputeIfAbsent(SharedServer.class, key -> SharedServer.start(), SharedServer.class).server();
        zk = ZkClients.connect(server.getConnectString(), Duration.ofSeconds(10), Duration.ofSeconds(10));
        layout = new ZkLayout("/test-" + UUID.randomUUID().toString().substring(0, 8));
    }

    @Override
    public void afterEach(ExtensionContext context) throws Exception {
        try {
            if (zk.checkExists().forPath(layout.root()) != null) {
                zk.delete().deletingChildrenIfNeeded().forPath(layout.root());
            }
        } finally {
            zk.close();
        }
    }

    /** A session of its own on the server, for this test. */
    public CuratorFramework zk() {
        return zk;
    }

    /** This test's root; nothing outside it is touched. */
    public ZkLayout layout() {
        return layout;
    }

    /** For the test's other clients (another coordinator, an agent). */
    public String connectString() {
        return server.getConnectString();
    }
}
