package io.lockstep.tls;

import java.io.ByteArrayInputStream;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.security.GeneralSecurityException;
import java.security.KeyFactory;
import java.security.PrivateKey;
import java.security.Signature;
import java.security.cert.Certificate;
import java.security.cert.CertificateException;
import java.security.cert.CertificateFactory;
import java.security.cert.X509Certificate;
import java.security.spec.PKCS8EncodedKeySpec;
import java.util.Base64;
import java.util.Collection;
import java.util.List;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * Reads and checks the PEM files of a {@link TlsConfig} before gRPC sees them: Netty's own errors
 * for a wrong file ("Input stream does not contain valid private key") do not say which file, nor
 * that a PKCS#1 key only needs converting.
 */
final class PemFiles {
    private static final Pattern PKCS8_KEY = Pattern.compile(
            "-----BEGIN PRIVATE KEY-----\\s*([A-Za-z0-9+/=\\s]+?)\\s*-----END PRIVATE KEY-----");
    private static final List<String> KEY_ALGORITHMS = List.of("RSA", "EC", "DSA");

    /** The bytes of the three files, each checked. */
    record Material(byte[] certChain, byte[] privateKey, byte[] trustedCa) {
    }

    private PemFiles() {
    }

    static Material read(TlsConfig config) {
        byte[] chain = bytes(config.certChain(), "--tls-cert");
        byte[] key = bytes(config.privateKey(), "--tls-key");
        byte[] ca = bytes(config.trustedCa(), "--tls-ca");
        List<X509Certificate> certificates = certificates(chain, config.certChain(), "--tls-cert");
        certificates(ca, config.trustedCa(), "--tls-ca");
        PrivateKey privateKey = privateKey(key, config.privateKey());
        checkKeyMatches(privateKey, config.privateKey(), certificates.get(0), config.certChain());
        return new Material(chain, key, ca);
    }

    private static byte[] bytes(Path file, String option) {
        try {
            return Files.readAllBytes(file);
        } catch (NoSuchFileException e) {
            throw new TransportSecurityException(option + " " + file + ": no such file");
        } catch (IOException e) {
            throw new TransportSecurityException(option + " " + file + ": cannot read it: " + e.getMessage(), e);
        }
    }

    private static List<X509Certificate> certificates(byte[] pem, Path file, String option) {
        Collection<? extends Certificate> certificates;
        try {
            certificates = CertificateFactory.getInstance("X.509").generateCertificates(new ByteArrayInputStream(pem));
        } catch (CertificateException e) {
            throw new TransportSecurityException(option + " " + file + ": not a PEM certificate file: " + e.getMessage(), e);
        }
        if (certificates.isEmpty()) {
            throw new TransportSecurityException(option + " " + file + ": holds no certificate (expected -----BEGIN CERTIFICATE-----)");
        }
        return certificates.stream().map(X509Certificate.class::cast).toList();
    }

    private static PrivateKey privateKey(byte[] pem, Path file) {
        String text = new String(pem, StandardCharsets.US_ASCII);
        Matcher matcher = PKCS8_KEY.matcher(text);
        if (!matcher.find()) {
            String hint = text.contains("-----BEGIN RSA PRIVATE KEY-----") || text.contains("-----BEGIN EC PRIVATE KEY-----")
                    || text.contains("-----BEGIN ENCRYPTED PRIVATE KEY-----")
                    ? "; convert it with: openssl pkcs8 -topk8 -nocrypt -in " + file + " -out key.pk8.pem" : "";
            throw new TransportSecurityException("--tls-key " + file
                    + ": not an unencrypted PKCS#8 PEM key (expected -----BEGIN PRIVATE KEY-----)" + hint);
        }
        PKCS8EncodedKeySpec spec;
        try {
            spec = new PKCS8EncodedKeySpec(Base64.getMimeDecoder().decode(matcher.group(1)));
        } catch (IllegalArgumentException e) {
            throw new TransportSecurityException("--tls-key " + file + ": the PEM block is not valid base64", e);
        }
        for (String algorithm : KEY_ALGORITHMS) {
            try {
                return KeyFactory.getInstance(algorithm).generatePrivate(spec);
            } catch (GeneralSecurityException notThisAlgorithm) {
                // PKCS#8 names the algorithm inside the DER; trying the few Netty supports is simpler than parsing it.
            }
        }
        throw new TransportSecurityException("--tls-key " + file + ": not an RSA, EC or DSA private key");
    }

    /** A key that does not belong to the certificate fails every handshake with an obscure error: say it now. */
    private static void checkKeyMatches(PrivateKey key, Path keyFile, X509Certificate certificate, Path certFile) {
        String algorithm = switch (key.getAlgorithm()) {
            case "RSA" -> "SHA256withRSA";
            case "EC" -> "SHA256withECDSA";
            default -> "SHA256withDSA";
        };
        byte[] probe = "lockstep key check".getBytes(StandardCharsets.US_ASCII);
        boolean matches;
        try {
            Signature signer = Signature.getInstance(algorithm);
            signer.initSign(key);
            signer.update(probe);
            byte[] signature = signer.sign();
            Signature verifier = Signature.getInstance(algorithm);
            verifier.initVerify(certificate.getPublicKey());
            verifier.update(probe);
            matches = verifier.verify(signature);
        } catch (GeneralSecurityException e) {
            matches = false;
        }
        if (!matches) {
            throw new TransportSecurityException("--tls-key " + keyFile + " is not the key of the first certificate in --tls-cert "
                    + certFile + " (" + certificate.getSubjectX500Principal().getName() + ")");
        }
    }
}
