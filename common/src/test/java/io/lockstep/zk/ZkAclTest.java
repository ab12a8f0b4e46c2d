package io.lockstep.zk;

import org.apache.curator.framework.CuratorFramework;
import org.apache.curator.test.TestingServer;
import org.apache.zookeeper.CreateMode;
import org.apache.zookeeper.KeeperException;
import org.apache.zookeeper.ZooDefs;
import org.apache.zookeeper.data.ACL;
import org.apache.zookeeper.data.Id;
import org.apache.zookeeper.server.auth.DigestAuthenticationProvider;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

/**
 * With --zk-auth, everything under the Lockstep root belongs to the Lockstep identity (docs/DESIGN.md,
 * "Security"): other sessions get NoAuth, sessions with the same credentials (an agent and a
 * coordinator) share every node, ephemeral ones included.
 */
class ZkAclTest {
    private static final String ROOT = "/apps/lockstep-acl";
    private static final Duration TIMEOUT = Duration.ofSeconds(5);
    private static final ZkAuth LOCKSTEP = ZkAuth.parse("lockstep:s3cret:with-colon");

    private TestingServer server;
    private final List<CuratorFramework> clients = new ArrayList<>();

    @BeforeEach
    void startServer() throws Exception {
        server = new TestingServer(true);
    }

    @AfterEach
    void stop() throws Exception {
        clients.forEach(CuratorFramework::close);
        server.close();
    }

    private CuratorFramework connect(Optional<ZkAuth> auth) throws Exception {
        CuratorFramework client = ZkClients.connect(server.getConnectString(), TIMEOUT, TIMEOUT, auth, ROOT);
        clients.add(client);
        return client;
    }

    @Test
    void nodesUnderTheRootCarryTheDigestAclAndParentsAboveStayOpen() throws Exception {
        CuratorFramework agent = connect(Optional.of(LOCKSTEP));
        agent.create().creatingParentsIfNeeded().forPath(ROOT + "/hosts/h1", "x".getBytes(StandardCharsets.UTF_8));

        Id lockstep = new Id("digest", DigestAuthenticationProvider.generateDigest("lockstep:s3cret:with-colon"));
        for (String path : List.of(ROOT, ROOT + "/hosts", ROOT + "/hosts/h1")) {
            assertThat(agent.getACL().forPath(path)).as(path).containsExactly(new ACL(ZooDefs.Perms.ALL, lockstep));
        }
        assertThat(agent.getACL().forPath("/apps")).isEqualTo(ZooDefs.Ids.OPEN_ACL_UNSAFE);
    }

    @Test
    void clientWithoutCredentialsGetsNoAuth() throws Exception {
        connect(Optional.of(LOCKSTEP)).create().creatingParentsIfNeeded().forPath(ROOT + "/hosts/h1", new byte[1]);
        CuratorFramework outsider = connect(Optional.empty());

        assertThatThrownBy(() -> outsider.getData().forPath(ROOT + "/hosts/h1")).isInstanceOf(KeeperException.NoAuthException.class);
        assertThatThrownBy(() -> outsider.setData().forPath(ROOT + "/hosts/h1", new byte[2])).isInstanceOf(KeeperException.NoAuthException.class);
        assertThatThrownBy(() -> outsider.getChildren().forPath(ROOT + "/hosts")).isInstanceOf(KeeperException.NoAuthException.class);
        assertThatThrownBy(() -> outsider.create().forPath(ROOT + "/hosts/intruder")).isInstanceOf(KeeperException.NoAuthException.class);
        assertThatThrownBy(() -> outsider.delete().forPath(ROOT + "/hosts/h1")).isInstanceOf(KeeperException.NoAuthException.class);
    }

    @Test
    void clientWithAnotherPasswordGetsNoAuth() throws Exception {
        connect(Optional.of(LOCKSTEP)).create().creatingParentsIfNeeded().forPath(ROOT + "/hosts/h1", new byte[1]);
        CuratorFramework impostor = connect(Optional.of(ZkAuth.parse("lockstep:guessed")));

        assertThatThrownBy(() -> impostor.getData().forPath(ROOT + "/hosts/h1")).isInstanceOf(KeeperException.NoAuthException.class);
    }

    @Test
    void anotherSessionWithTheSameCredentialsReadsAndWritesEphemeralNodes() throws Exception {
        CuratorFramework agent = connect(Optional.of(LOCKSTEP));
        agent.create().creatingParentsIfNeeded().withMode(CreateMode.EPHEMERAL)
                .forPath(ROOT + "/hosts/h1", "record".getBytes(StandardCharsets.UTF_8));
        CuratorFramework coordinator = connect(Optional.of(LOCKSTEP));

        assertThat(coordinator.getChildren().forPath(ROOT + "/hosts")).containsExactly("h1");
        assertThat(new String(coordinator.getData().forPath(ROOT + "/hosts/h1"), StandardCharsets.UTF_8)).isEqualTo("record");
        coordinator.create().forPath(ROOT + "/ops", new byte[0]);
        assertThat(agent.getData().forPath(ROOT + "/ops")).isEmpty();
        coordinator.delete().forPath(ROOT + "/hosts/h1");
        assertThat(agent.checkExists().forPath(ROOT + "/hosts/h1")).isNull();
    }

    @Test
    void withoutCredentialsNodesStayOpen() throws Exception {
        CuratorFramework client = connect(Optional.empty());
        client.create().creatingParentsIfNeeded().forPath(ROOT + "/hosts/h1", new byte[1]);

        assertThat(client.getACL().forPath(ROOT + "/hosts/h1")).isEqualTo(ZooDefs.Ids.OPEN_ACL_UNSAFE);
    }
}
