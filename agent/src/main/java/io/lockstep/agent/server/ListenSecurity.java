package io.lockstep.agent.server;

import io.grpc.InsecureServerCredentials;
import io.grpc.ServerCredentials;
import io.lockstep.tls.TransportSecurityException;

import java.net.InetAddress;
import java.net.InetSocketAddress;

/**
 * The agent's gRPC server runs commands as root for whoever calls it: it serves mutual TLS when
 * configured, and plaintext only where nobody but this host can reach it (loopback), unless the
 * operator explicitly says the network is trusted.
 */
final class ListenSecurity {
    private ListenSecurity() {
    }

    static ServerCredentials credentials(AgentConfig config, InetSocketAddress bind) {
        if (config.tls().isPresent()) {
            if (config.insecurePlaintext()) {
                throw new TransportSecurityException("--insecure-plaintext contradicts --tls-cert/--tls-key/--tls-ca: pass one or the other");
            }
            return config.tls().get().serverCredentials();
        }
        if (!isLoopback(bind) && !config.insecurePlaintext()) {
            throw new TransportSecurityException("refusing to serve plaintext gRPC on " + config.listen()
                    + ", which is not a loopback address: anyone reaching it could run commands as this agent's user. "
                    + "Pass --tls-cert, --tls-key and --tls-ca for mutual TLS, or --insecure-plaintext if the network is trusted.");
        }
        return InsecureServerCredentials.create();
    }

    private static boolean isLoopback(InetSocketAddress bind) {
        InetAddress address = bind.getAddress();
        return address != null && address.isLoopbackAddress();
    }
}
