package io.lockstep.agent.server;

import io.grpc.InsecureServerCredentials;
import io.grpc.ServerCredentials;
import io.lockstep.tls.TransportSecurityException;

import java.net.InetAddress;
import java.net.InetSocketAddress;

/**
 * The agent's TCP endpoint is for coordinators: mutual TLS with an allowed-client list when
 * configured; plaintext (which {@link AccessPolicy} limits to health and reflection) only on
 * loopback, unless the operator explicitly says the network is trusted (--insecure-plaintext,
 * which opens every RPC to it).
 */
final class ListenSecurity {
    private ListenSecurity() {
    }

    static ServerCredentials credentials(AgentConfig config, InetSocketAddress bind) {
        if (config.tls().isEmpty() && !config.allowedClients().isEmpty()) {
            throw new TransportSecurityException("--tls-allowed-client is for mutual TLS: pass --tls-cert, --tls-key and --tls-ca too");
        }
        if (config.tls().isPresent()) {
            if (config.insecurePlaintext()) {
                throw new TransportSecurityException("--insecure-plaintext contradicts --tls-cert/--tls-key/--tls-ca: pass one or the other");
            }
            ServerCredentials credentials = config.tls().get().serverCredentials();
            if (config.allowedClients().isEmpty()) {
                throw new TransportSecurityException("--tls-cert/--tls-key/--tls-ca need at least one --tls-allowed-client NAME"
                        + " (a subject CN or SAN of the coordinator's client certificate): being signed by the CA is not"
                        + " enough to act as a coordinator");
            }
            return credentials;
        }
        if (!isLoopback(bind) && !config.insecurePlaintext()) {
            throw new TransportSecurityException("refusing to serve plaintext gRPC on " + config.listen()
                    + ", which is not a loopback address: plaintext TCP serves only health checks, so no coordinator could"
                    + " use this agent. Pass --tls-cert, --tls-key, --tls-ca and --tls-allowed-client for mutual TLS, or"
                    + " --insecure-plaintext if the network is trusted.");
        }
        return InsecureServerCredentials.create();
    }

    private static boolean isLoopback(InetSocketAddress bind) {
        InetAddress address = bind.getAddress();
        return address != null && address.isLoopbackAddress();
    }
}
