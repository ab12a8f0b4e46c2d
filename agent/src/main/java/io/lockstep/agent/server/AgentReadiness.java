package io.lockstep.agent.server;

import io.grpc.health.v1.HealthCheckResponse.ServingStatus;
import io.grpc.protobuf.services.HealthStatusManager;
import io.lockstep.proto.AgentGrpc;
import org.apache.curator.framework.CuratorFramework;
import org.apache.curator.framework.state.ConnectionState;
import org.apache.curator.framework.state.ConnectionStateListener;

/**
 * The gRPC health status of the agent: SERVING once it is registered in ZooKeeper and while its
 * connection is up, NOT_SERVING before, while the connection is suspended or lost, and at shutdown.
 * Reported for the whole server ("") and for the agent service by name.
 */
final class AgentReadiness implements ConnectionStateListener {
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
