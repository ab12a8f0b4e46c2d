package io.lockstep.agent.server;

import io.grpc.Attributes;
import io.grpc.ForwardingServerCall;
import io.grpc.ForwardingServerCallListener;
import io.grpc.Grpc;
import io.grpc.Metadata;
import io.grpc.ServerCall;
import io.grpc.ServerCallHandler;
import io.grpc.ServerInterceptor;
import io.grpc.Status;
import io.grpc.StatusRuntimeException;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import javax.net.ssl.SSLPeerUnverifiedException;
import javax.net.ssl.SSLSession;
import java.security.cert.Certificate;
import java.security.cert.CertificateParsingException;
import java.security.cert.X509Certificate;
import java.util.ArrayList;
import java.util.Collection;
import java.util.List;
import java.util.Set;
import javax.naming.InvalidNameException;
import javax.naming.ldap.LdapName;
import javax.naming.ldap.Rdn;

/**
 * Puts {@link AccessPolicy} in front of the Agent service: names the caller from what its
 * transport proves (SO_PEERCRED on the local socket, the client certificate over mutual TLS,
 * nothing over plaintext TCP), refuses what the policy refuses before the service sees it, and
 * trims replies to what the caller may see. Every refusal is logged.
 */
final class AccessInterceptor implements ServerInterceptor {
    private static final Logger LOG = LoggerFactory.getLogger(AccessInterceptor.class);

    private final String hostId;
    private final AccessPolicy policy;
    private final Set<String> allowedClients;
    private final boolean insecurePlaintext;

    AccessInterceptor(String hostId, AccessPolicy policy, Set<String> allowedClients, boolean insecurePlaintext) {
        this.hostId = hostId;
        this.policy = policy;
        this.allowedClients = Set.copyOf(allowedClients);
        this.insecurePlaintext = insecurePlaintext;
    }

    @Override
    public <Q, R> ServerCall.Listener<Q> interceptCall(ServerCall<Q, R> call, Metadata headers, ServerCallHandler<Q, R> next) {
        Caller caller = identify(call.getAttributes());
        String method = call.getMethodDescriptor().getBareMethodName();
        try {
            policy.admitCall(caller, method);
        } catch (StatusRuntimeException refused) {
            refuse(call, refused.getStatus());
            return new ServerCall.Listener<>() {
            };
        }
        ServerCall<Q, R> trimmed = new ForwardingServerCall.SimpleForwardingServerCall<>(call) {
            @Override
            @SuppressWarnings("unchecked")
            public void sendMessage(R message) {
                try {
                    super.sendMessage((R) policy.visible(caller, message));
                } catch (java.io.IOException e) {
                    throw GrpcErrors.toStatus(hostId, method, e);
                }
            }
        };
        ServerCall.Listener<Q> service = next.startCall(trimmed, headers);
        return new ForwardingServerCallListener.SimpleForwardingServerCallListener<>(service) {
            private boolean refused;

            @Override
            public void onMessage(Q message) {
                try {
                    policy.admitRequest(caller, method, message);
                } catch (Exception e) {
                    refused = true;
                    refuse(call, e instanceof StatusRuntimeException denied ? denied.getStatus()
                            : GrpcErrors.toStatus(hostId, method, e).getStatus());
                    return;
                }
                super.onMessage(message);
            }

            @Override
            public void onHalfClose() {
                if (!refused) {
                    super.onHalfClose();
                }
            }
        };
    }

    private <Q, R> void refuse(ServerCall<Q, R> call, Status status) {
        if (status.getCode() == Status.Code.PERMISSION_DENIED) {
            LOG.warn("agent {}: {}", hostId, status.getDescription());
        }
        call.close(status, new Metadata());
    }

    private Caller identify(Attributes attributes) {
        LocalSocket.PeerCredentials local = attributes.get(LocalSocket.PEER_CREDENTIALS);
        if (local != null) {
            return new Caller.LocalUser(local.uid(), local.gid(), local.pid());
        }
        SSLSession tls = attributes.get(Grpc.TRANSPORT_ATTR_SSL_SESSION);
        if (tls != null) {
            List<String> names = certificateNames(tls);
            return names.stream().filter(allowedClients::contains).findFirst()
                    .<Caller>map(Caller.Coordinator::new)
                    .orElseGet(() -> new Caller.UnlistedCertificate(names));
        }
        return new Caller.PlaintextTcp(String.valueOf(attributes.get(Grpc.TRANSPORT_ATTR_REMOTE_ADDR)), insecurePlaintext);
    }

    /** The subject's CN, then every DNS, IP and URI subject alternative name of the client certificate. */
    static List<String> certificateNames(SSLSession session) {
        Certificate[] chain;
        try {
            chain = session.getPeerCertificates();
        } catch (SSLPeerUnverifiedException e) {
            return List.of();
        }
        if (chain.length == 0 || !(chain[0] instanceof X509Certificate certificate)) {
            return List.of();
        }
        List<String> names = new ArrayList<>();
        try {
            for (Rdn rdn : new LdapName(certificate.getSubjectX500Principal().getName()).getRdns()) {
                if (rdn.getType().equalsIgnoreCase("CN")) {
                    names.add(rdn.getValue().toString());
                }
            }
        } catch (InvalidNameException e) {
            // A subject that is no valid DN names nobody; the SANs may still name the client.
        }
        try {
            Collection<List<?>> alternatives = certificate.getSubjectAlternativeNames();
            if (alternatives != null) {
                for (List<?> alternative : alternatives) {
                    int type = (Integer) alternative.get(0);
                    // 2 dNSName, 6 URI, 7 iPAddress (RFC 5280); the others are not names a flag can hold.
                    if (type == 2 || type == 6 || type == 7) {
                        names.add(alternative.get(1).toString());
                    }
                }
            }
        } catch (CertificateParsingException e) {
            // Unparseable SANs name nobody.
        }
        return names;
    }
}
