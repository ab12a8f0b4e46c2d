package io.lockstep.tls;

import io.grpc.ChannelCredentials;
import io.grpc.InsecureChannelCredentials;
import io.grpc.ServerCredentials;
import io.grpc.TlsChannelCredentials;
import io.grpc.TlsServerCredentials;

import java.io.ByteArrayInputStream;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Path;
import java.util.Objects;
import java.util.Optional;

/**
 * Mutual TLS between coordinators and agents: each side presents {@code certChain} (with its
 * {@code privateKey}) and accepts only peers whose certificate chains to {@code trustedCa}. Agents
 * require a client certificate; clients check the agent's certificate against the address they
 * dial (its SAN must hold the host name or IP of the agent's registered endpoint).
 *
 * @param certChain  PEM certificate chain, own certificate first
 * @param privateKey unencrypted PKCS#8 PEM key of the first certificate ({@code BEGIN PRIVATE KEY})
 * @param trustedCa  PEM certificate(s) of the CA(s) that sign the peers' certificates
 */
public record TlsConfig(Path certChain, Path privateKey, Path trustedCa) {
    public TlsConfig {
        Objects.requireNonNull(certChain, "certChain");
        Objects.requireNonNull(privateKey, "privateKey");
        Objects.requireNonNull(trustedCa, "trustedCa");
    }

    /** Server credentials that refuse any client without a certificate signed by {@link #trustedCa}. */
    public ServerCredentials serverCredentials() {
        PemFiles.Material material = PemFiles.read(this);
        try {
            return TlsServerCredentials.newBuilder()
                    .keyManager(new ByteArrayInputStream(material.certChain()), new ByteArrayInputStream(material.privateKey()))
                    .trustManager(new ByteArrayInputStream(material.trustedCa()))
                    .clientAuth(TlsServerCredentials.ClientAuth.REQUIRE)
                    .build();
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    /** Client credentials presenting {@link #certChain} and trusting only servers signed by {@link #trustedCa}. */
    public ChannelCredentials channelCredentials() {
        PemFiles.Material material = PemFiles.read(this);
        try {
            return TlsChannelCredentials.newBuilder()
                    .keyManager(new ByteArrayInputStream(material.certChain()), new ByteArrayInputStream(material.privateKey()))
                    .trustManager(new ByteArrayInputStream(material.trustedCa()))
                    .build();
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    /** What a client dials agents with: mutual TLS when configured, else plaintext. */
    public static ChannelCredentials channelCredentials(Optional<TlsConfig> tls) {
        return tls.map(TlsConfig::channelCredentials).orElseGet(InsecureChannelCredentials::create);
    }
}
