package io.lockstep.agent.server;

import io.grpc.health.v1.HealthCheckResponse.ServingStatus;
import io.grpc.protobuf.services.HealthStatusManager;
import io.lockstep.proto.AgentGrpc;
import org.apache.curator.framework.CuratorFramework;
import org.apache.curator.framework.state.ConnectionState;
import org.apache.curator.framework.state.ConnectionStateListener;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The gRPC health status of the agent: SERVING once it is registered in ZooKeeper and while its
 * connection is up, NOT_SERVING before, while the connection is suspended or lost, and at shutdown.
 * Reported for the whole server ("") and for the agent service by name. Each change of the
 * ZooKeeper connection is logged here, one line each (the client libraries' own retry logs are off).
 */
final class AgentReadiness implements ConnectionStateListener {
    private static final Logger LOG = LoggerFactory.getLogger(AgentReadiness.class);

    private final HealthStatusManager health;
    private boolean registered;
    private boolean connected = true;

    AgentReadiness(HealthStatusManager health) {
        this.health = health;
        publish();
    }

    /** The host node exists: coordinators can find this agent. */
    synchronized void registered() {
        registered = true;
        publish();
    }

    @Override
    public synchronized void stateChanged(CuratorFramework client, ConnectionState newState) {
        connected = newState.isConnected();
        publish();
        String zk = client.getZookeeperClient().getCurrentConnectionString();
        switch (newState) {
            case SUSPENDED -> LOG.warn("ZooKeeper connection lost ({}): not serving; retrying; a frozen group still thaws "
                    + "by its deadline", zk);
            case LOST -> LOG.warn("ZooKeeper session lost ({}): this host's registration is gone until it reconnects", zk);
            case RECONNECTED -> LOG.info("ZooKeeper reconnected ({})", zk);
            case READ_ONLY -> LOG.warn("ZooKeeper connection read-only ({})", zk);
            case CONNECTED -> LOG.info("ZooKeeper connected ({})", zk);
        }
    }

    void shutdown() {
        health.enterTerminalState();
    }

    private void publish() {
        ServingStatus status = registered && connected ? ServingStatus.SERVING : ServingStatus.NOT_SERVING;
        health.setStatus(HealthStatusManager.SERVICE_NAME_ALL_SERVICES, status);
        health.setStatus(AgentGrpc.SERVICE_NAME, status);
    }
}
