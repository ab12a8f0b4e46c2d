package io.lockstep.zk;

import org.apache.curator.framework.CuratorFramework;
import org.apache.curator.framework.CuratorFrameworkFactory;
import org.apache.curator.retry.ExponentialBackoffRetry;

import java.time.Duration;
import java.util.concurrent.TimeUnit;

/** Builds connected Curator clients with the timeouts Lockstep's safety arguments rely on. */
public final class ZkClients {
    public static final Duration DEFAULT_SESSION_TIMEOUT = Duration.ofSeconds(10);
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
        CuratorFramework client = CuratorFrameworkFactory.builder()
                .connectString(connectString)
                .sessionTimeoutMs((int) sessionTimeout.toMillis())
                .connectionTimeoutMs((int) connectTimeout.toMillis())
                .retryPolicy(new ExponentialBackoffRetry(100, 3, 1000))
                .build();
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
