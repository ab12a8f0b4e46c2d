package io.lockstep.zk;

import org.apache.curator.framework.CuratorFramework;
import org.apache.curator.framework.CuratorFrameworkFactory;
import org.apache.curator.retry.ExponentialBackoffRetry;

import java.time.Duration;
import java.util.Optional;
import java.util.concurrent.TimeUnit;

/** Builds connected Curator clients with the timeouts Lockstep's safety arguments rely on. */
public final class ZkClients {
    public static final Duration DEFAULT_CONNECT_TIMEOUT = Duration.ofSeconds(5);

    private ZkClients() {
    }

    /**
     * Starts a client and waits until it is connected.
     *
     * @throws ZkUnavailableException when no server answered within {@code connectTimeout}
     */
    public static CuratorFramework connect(String connectString, Duration sessionTimeout, Duration connectTimeout)
            throws ZkUnavailableException {
        return connect(connectString, sessionTimeout, connectTimeout, Optional.empty(), ZkLayout.DEFAULT_ROOT);
    }

    /**
     * As {@link #connect(String, Duration, Duration)}; with credentials, the session authenticates
     * with them and every node it creates at or under {@code root} is restricted to that identity.
     */
    public static CuratorFramework connect(String connectString, Duration sessionTimeout, Duration connectTimeout,
                                           Optional<ZkAuth> auth, String root) throws ZkUnavailableException {
        CuratorFrameworkFactory.Builder builder = CuratorFrameworkFactory.builder()
                .connectString(connectString)
                .sessionTimeoutMs((int) sessionTimeout.toMillis())
                .connectionTimeoutMs((int) connectTimeout.toMillis())
                .retryPolicy(new ExponentialBackoffRetry(100, 3, 1000));
        auth.ifPresent(credentials -> builder
                .authorization("digest", credentials.authBytes())
                .aclProvider(new RootAclProvider(root, credentials.acl())));
        CuratorFramework client = builder.build();
        client.start();
        boolean connected;
        try {
            connected = client.blockUntilConnected((int) connectTimeout.toMillis(), TimeUnit.MILLISECONDS);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            connected = false;
        }
        if (!connected) {
            client.close();
            throw new ZkUnavailableException("ZooKeeper at " + connectString + " did not answer within "
                    + connectTimeout.toMillis() + " ms");
        }
        return client;
    }
}
