package io.lockstep.tls;

import picocli.CommandLine.Option;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;

/**
 * {@code --tls-cert}, {@code --tls-key}, {@code --tls-ca}: mutual TLS between coordinators and
 * agents, the same three options on every command that serves or calls the agents' gRPC API.
 */
public final class TlsOptions {
    @Option(names = "--tls-cert", paramLabel = "PEM",
            description = "Mutual TLS with the agents' gRPC API: the PEM certificate chain this side presents "
                    + "(an agent's server certificate, whose SAN must hold the address clients dial; or a client "
                    + "certificate). Needs --tls-key and --tls-ca.")
    Path certChain;

    @Option(names = "--tls-key", paramLabel = "PEM",
            description = "Unencrypted PKCS#8 PEM private key of --tls-cert (-----BEGIN PRIVATE KEY-----).")
    Path privateKey;

    @Option(names = "--tls-ca", paramLabel = "PEM",
            description = "PEM certificate(s) of the CA that signs the other side's certificate; peers signed by "
                    + "anyone else are refused.")
    Path trustedCa;

    /** The configuration when all three options are given, none when none is. */
    public Optional<TlsConfig> config() {
        List<String> missing = new ArrayList<>();
        if (certChain == null) {
            missing.add("--tls-cert");
        }
        if (privateKey == null) {
            missing.add("--tls-key");
        }
        if (trustedCa == null) {
            missing.add("--tls-ca");
        }
        if (missing.size() == 3) {
            return Optional.empty();
        }
        if (!missing.isEmpty()) {
            throw new TransportSecurityException("--tls-cert, --tls-key and --tls-ca go together: " + String.join(" and ", missing)
                    + (missing.size() == 1 ? " is" : " are") + " missing");
        }
        return Optional.of(new TlsConfig(certChain, privateKey, trustedCa));
    }
}
