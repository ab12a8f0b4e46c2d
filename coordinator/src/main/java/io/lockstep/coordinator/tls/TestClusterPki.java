package io.lockstep.coordinator.tls;

import org.bouncycastle.asn1.x500.X500Name;
import org.bouncycastle.asn1.x509.BasicConstraints;
import org.bouncycastle.asn1.x509.ExtendedKeyUsage;
import org.bouncycastle.asn1.x509.Extension;
import org.bouncycastle.asn1.x509.GeneralName;
import org.bouncycastle.asn1.x509.GeneralNames;
import org.bouncycastle.asn1.x509.KeyPurposeId;
import org.bouncycastle.asn1.x509.KeyUsage;
import org.bouncycastle.cert.X509v3CertificateBuilder;
import org.bouncycastle.cert.jcajce.JcaX509CertificateConverter;
import org.bouncycastle.cert.jcajce.JcaX509ExtensionUtils;
import org.bouncycastle.cert.jcajce.JcaX509v3CertificateBuilder;
import org.bouncycastle.operator.OperatorCreationException;
import org.bouncycastle.operator.jcajce.JcaContentSignerBuilder;

import java.io.IOException;
import java.math.BigInteger;
import java.nio.charset.StandardCharsets;
import java.nio.file.FileAlreadyExistsException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.security.GeneralSecurityException;
import java.security.KeyPair;
import java.security.KeyPairGenerator;
import java.security.SecureRandom;
import java.security.cert.X509Certificate;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.Base64;
import java.util.Date;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Set;
import java.util.regex.Pattern;

/**
 * The certificates of a test cluster, in one directory: a CA, one server certificate per agent
 * host (its SAN names the host, which is what coordinators dial), and one client certificate for
 * the coordinators (CN = the name agents allow with --tls-allowed-client). EC P-256 keys as
 * unencrypted PKCS#8 PEM files, mode 0600; certificates 0644. Nothing is overwritten.
 */
public final class TestClusterPki {
    private static final Pattern IPV4 = Pattern.compile("\\d{1,3}(\\.\\d{1,3}){3}");
    private static final SecureRandom RANDOM = new SecureRandom();

    /** What was written: every file, and the CA's certificate (for the caller to report). */
    public record Issued(Path ca, List<Path> files) {
    }

    private final Path dir;
    private final Duration validity;

    public TestClusterPki(Path dir, Duration validity) {
        this.dir = dir;
        this.validity = validity;
    }

    public static String agentCertificate(String host) {
        return "agent-" + host + ".pem";
    }

    public static String agentKey(String host) {
        return "agent-" + host + "-key.pem";
    }

    /**
     * Writes ca.pem (+ ca-key.pem), agent-HOST.pem (+ -key.pem) per host, and
     * {@code coordinatorName}.pem (+ -key.pem).
     *
     * @param extraAgentNames names every agent certificate also holds (e.g. 127.0.0.1 for one machine)
     */
    public Issued issue(List<String> hosts, List<String> extraAgentNames, String coordinatorName)
            throws IOException, GeneralSecurityException {
        Files.createDirectories(dir);
        List<String> planned = new ArrayList<>(List.of("ca.pem", "ca-key.pem", coordinatorName + ".pem", coordinatorName + "-key.pem"));
        hosts.forEach(host -> planned.addAll(List.of(agentCertificate(host), agentKey(host))));
        for (String file : planned) {
            if (Files.exists(dir.resolve(file))) {
                throw new FileAlreadyExistsException(dir.resolve(file).toString(), null,
                        "already exists; tls init never overwrites keys: remove the directory's files or pick another --out");
            }
        }
        List<Path> written = new ArrayList<>();
        KeyPair caKeys = keyPair();
        X500Name caName = new X500Name("CN=Lockstep test cluster CA");
        JcaX509v3CertificateBuilder ca = builder(caName, caName, caKeys);
        ca.addExtension(Extension.basicConstraints, true, new BasicConstraints(0));
        ca.addExtension(Extension.keyUsage, true, new KeyUsage(KeyUsage.keyCertSign | KeyUsage.cRLSign));
        ca.addExtension(Extension.subjectKeyIdentifier, false, new JcaX509ExtensionUtils().createSubjectKeyIdentifier(caKeys.getPublic()));
        X509Certificate caCertificate = sign(ca, caKeys);
        written.add(write("ca.pem", pem("CERTIFICATE", caCertificate.getEncoded()), false));
        written.add(write("ca-key.pem", pem("PRIVATE KEY", caKeys.getPrivate().getEncoded()), true));
        for (String host : hosts) {
            Set<String> names = new LinkedHashSet<>();
            names.add(host);
            names.addAll(extraAgentNames);
            written.addAll(leaf("agent-" + host, host, names, KeyPurposeId.id_kp_serverAuth, caName, caCertificate, caKeys));
        }
        written.addAll(leaf(coordinatorName, coordinatorName, Set.of(coordinatorName), KeyPurposeId.id_kp_clientAuth, caName,
                caCertificate, caKeys));
        return new Issued(dir.resolve("ca.pem"), written);
    }

    private List<Path> leaf(String fileName, String commonName, Set<String> names, KeyPurposeId purpose, X500Name caName,
                            X509Certificate caCertificate, KeyPair caKeys) throws IOException, GeneralSecurityException {
        KeyPair keys = keyPair();
        JcaX509v3CertificateBuilder builder = builder(caName, new X500Name("CN=" + commonName), keys);
        builder.addExtension(Extension.basicConstraints, true, new BasicConstraints(false));
        builder.addExtension(Extension.keyUsage, true, new KeyUsage(KeyUsage.digitalSignature | KeyUsage.keyEncipherment));
        builder.addExtension(Extension.extendedKeyUsage, false, new ExtendedKeyUsage(purpose));
        builder.addExtension(Extension.authorityKeyIdentifier, false,
                new JcaX509ExtensionUtils().createAuthorityKeyIdentifier(caCertificate));
        builder.addExtension(Extension.subjectAlternativeName, false, new GeneralNames(names.stream()
                .map(name -> IPV4.matcher(name).matches() || name.contains(":")
                        ? new GeneralName(GeneralName.iPAddress, name) : new GeneralName(GeneralName.dNSName, name))
                .toArray(GeneralName[]::new)));
        X509Certificate certificate = sign(builder, caKeys);
        return List.of(write(fileName + ".pem", pem("CERTIFICATE", certificate.getEncoded()), false),
                write(fileName + "-key.pem", pem("PRIVATE KEY", keys.getPrivate().getEncoded()), true));
    }

    private JcaX509v3CertificateBuilder builder(X500Name issuer, X500Name subject, KeyPair keys) {
        Instant now = Instant.now();
        return new JcaX509v3CertificateBuilder(issuer, new BigInteger(127, RANDOM), Date.from(now.minus(Duration.ofHours(1))),
                Date.from(now.plus(validity)), subject, keys.getPublic());
    }

    private static X509Certificate sign(X509v3CertificateBuilder builder, KeyPair signer) throws GeneralSecurityException {
        try {
            return new JcaX509CertificateConverter()
                    .getCertificate(builder.build(new JcaContentSignerBuilder("SHA256withECDSA").build(signer.getPrivate())));
        } catch (OperatorCreationException e) {
            throw new GeneralSecurityException("cannot sign with the CA key: " + e.getMessage(), e);
        }
    }

    private static KeyPair keyPair() throws GeneralSecurityException {
        KeyPairGenerator generator = KeyPairGenerator.getInstance("EC");
        generator.initialize(256);
        return generator.generateKeyPair();
    }

    /** Creates the file with its final mode before any byte is written: a key is never readable by others. */
    private Path write(String fileName, String content, boolean secret) throws IOException {
        Path file = dir.resolve(fileName);
        Files.createFile(file, PosixFilePermissions.asFileAttribute(PosixFilePermissions.fromString(secret ? "rw-------" : "rw-r--r--")));
        Files.writeString(file, content, StandardCharsets.US_ASCII);
        return file;
    }

    private static String pem(String type, byte[] der) {
        return "-----BEGIN " + type + "-----\n" + Base64.getMimeEncoder(64, "\n".getBytes(StandardCharsets.US_ASCII)).encodeToString(der)
                + "\n-----END " + type + "-----\n";
    }
}
