package io.lockstep.coordinator.testing;

import io.lockstep.tls.TlsConfig;
import org.bouncycastle.asn1.x500.X500Name;
import org.bouncycastle.asn1.x509.BasicConstraints;
import org.bouncycastle.asn1.x509.ExtendedKeyUsage;
import org.bouncycastle.asn1.x509.Extension;
import org.bouncycastle.asn1.x509.GeneralName;
import org.bouncycastle.asn1.x509.GeneralNames;
import org.bouncycastle.asn1.x509.KeyPurposeId;
import org.bouncycastle.asn1.x509.KeyUsage;
import org.bouncycastle.cert.jcajce.JcaX509CertificateConverter;
import org.bouncycastle.cert.jcajce.JcaX509v3CertificateBuilder;
import org.bouncycastle.operator.jcajce.JcaContentSignerBuilder;

import java.io.IOException;
import java.math.BigInteger;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.GeneralSecurityException;
import java.security.KeyPair;
import java.security.KeyPairGenerator;
import java.security.cert.X509Certificate;
import java.time.Duration;
import java.time.Instant;
import java.util.Base64;
import java.util.Date;
import java.util.concurrent.atomic.AtomicLong;

/**
 * A throwaway PKI in a directory: CAs, an agent server certificate for 127.0.0.1/localhost and
 * client certificates, as the PEM files Lockstep's --tls-* options take.
 */
public final class TestCertificates {
    private static final AtomicLong SERIAL = new AtomicLong(System.currentTimeMillis());

    /** A CA that signs certificates; {@code pem} is its certificate file. */
    public record Authority(String name, KeyPair keys, X509Certificate certificate, Path pem) {
    }

    private final Path dir;

    public TestCertificates(Path dir) throws IOException {
        this.dir = Files.createDirectories(dir);
    }

    public Authority authority(String name) throws Exception {
        KeyPair keys = keyPair();
        X500Name subject = new X500Name("CN=" + name);
        JcaX509v3CertificateBuilder builder = builder(subject, subject, keys);
        builder.addExtension(Extension.basicConstraints, true, new BasicConstraints(true));
        builder.addExtension(Extension.keyUsage, true, new KeyUsage(KeyUsage.keyCertSign | KeyUsage.cRLSign));
        X509Certificate certificate = sign(builder, keys);
        return new Authority(name, keys, certificate, writeCertificate(name + "-ca.pem", certificate));
    }

    /** A server certificate for 127.0.0.1 and localhost, and its TLS configuration trusting {@code trusted}. */
    public TlsConfig server(String name, Authority issuer, Authority trusted) throws Exception {
        GeneralNames names = new GeneralNames(new GeneralName[] {
            new GeneralName(GeneralName.iPAddress, "127.0.0.1"), new GeneralName(GeneralName.dNSName, "localhost")});
        return leaf(name, issuer, trusted, KeyPurposeId.id_kp_serverAuth, names);
    }

    /** A client certificate, and its TLS configuration trusting {@code trusted}. */
    public TlsConfig client(String name, Authority issuer, Authority trusted) throws Exception {
        return leaf(name, issuer, trusted, KeyPurposeId.id_kp_clientAuth, null);
    }

    private TlsConfig leaf(String name, Authority issuer, Authority trusted, KeyPurposeId purpose, GeneralNames altNames)
            throws Exception {
        KeyPair keys = keyPair();
        JcaX509v3CertificateBuilder builder = builder(new X500Name("CN=" + issuer.name()), new X500Name("CN=" + name), keys);
        builder.addExtension(Extension.basicConstraints, true, new BasicConstraints(false));
        builder.addExtension(Extension.keyUsage, true, new KeyUsage(KeyUsage.digitalSignature));
        builder.addExtension(Extension.extendedKeyUsage, false, new ExtendedKeyUsage(purpose));
        if (altNames != null) {
            builder.addExtension(Extension.subjectAlternativeName, false, altNames);
        }
        X509Certificate certificate = sign(builder, issuer.keys());
        Path key = dir.resolve(name + "-key.pem");
        Files.writeString(key, pem("PRIVATE KEY", keys.getPrivate().getEncoded()));
        return new TlsConfig(writeCertificate(name + ".pem", certificate), key, trusted.pem());
    }

    private static JcaX509v3CertificateBuilder builder(X500Name issuer, X500Name subject, KeyPair keys) {
        Instant now = Instant.now();
        return new JcaX509v3CertificateBuilder(issuer, BigInteger.valueOf(SERIAL.incrementAndGet()),
                Date.from(now.minus(Duration.ofHours(1))), Date.from(now.plus(Duration.ofDays(1))), subject, keys.getPublic());
    }

    private static X509Certificate sign(JcaX509v3CertificateBuilder builder, KeyPair signer) throws Exception {
        return new JcaX509CertificateConverter()
                .getCertificate(builder.build(new JcaContentSignerBuilder("SHA256withECDSA").build(signer.getPrivate())));
    }

    private static KeyPair keyPair() throws GeneralSecurityException {
        KeyPairGenerator generator = KeyPairGenerator.getInstance("EC");
        generator.initialize(256);
        return generator.generateKeyPair();
    }

    private Path writeCertificate(String fileName, X509Certificate certificate) throws Exception {
        Path file = dir.resolve(fileName);
        Files.writeString(file, pem("CERTIFICATE", certificate.getEncoded()));
        return file;
    }

    private static String pem(String type, byte[] der) {
        return "-----BEGIN " + type + "-----\n" + Base64.getMimeEncoder(64, "\n".getBytes()).encodeToString(der)
                + "\n-----END " + type + "-----\n";
    }
}
