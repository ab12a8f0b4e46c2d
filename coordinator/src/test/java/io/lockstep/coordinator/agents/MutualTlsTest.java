package io.lockstep.coordinator.agents;

import io.grpc.ManagedChannel;
import io.grpc.Status;
import io.grpc.StatusRuntimeException;
import io.grpc.TlsChannelCredentials;
import io.grpc.netty.shaded.io.grpc.netty.NettyChannelBuilder;
import io.lockstep.agent.cli.AgentMain;
import io.lockstep.coordinator.testing.LocalCluster;
import io.lockstep.coordinator.testing.TestCertificates;
import io.lockstep.proto.AgentGrpc;
import io.lockstep.proto.HostRecord;
import io.lockstep.proto.StatusRequest;
import io.lockstep.tls.TlsConfig;
import io.lockstep.tls.TransportSecurityException;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import picocli.CommandLine;

import java.io.PrintWriter;
import java.io.StringWriter;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Optional;
import java.util.concurrent.TimeUnit;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

/**
 * An agent serving mutual TLS (docs/DESIGN.md, "Security") answers a coordinator whose certificate its
 * CA signed, and nobody else: not a client without a certificate, not one signed by another CA,
 * not a plaintext one.
 */
class MutualTlsTest {
    private static final String HOST = "tls-host";
    private static final Duration TIMEOUT = Duration.ofSeconds(10);

    @TempDir
    static Path dir;

    private static LocalCluster cluster;
    private static TestCertificates.Authority ca;
    private static TlsConfig coordinatorTls;
    private static TlsConfig rogueTls;
    private static HostRecord agent;

    @BeforeAll
    static void startTlsAgent() throws Exception {
        TestCertificates certificates = new TestCertificates(dir.resolve("pki"));
        ca = certificates.authority("lockstep-ca");
        TestCertificates.Authority rogueCa = certificates.authority("rogue-ca");
        TlsConfig agentTls = certificates.server("agent", ca, ca);
        coordinatorTls = certificates.client("coordinator", ca, ca);
        rogueTls = certificates.client("rogue", rogueCa, ca);
        cluster = LocalCluster.start();
        cluster.startAgent(HOST, config -> config.withTls(Optional.of(agentTls), false));
        agent = cluster.coordinator().directory().host(HOST).orElseThrow();
    }

    @AfterAll
    static void stopCluster() throws Exception {
        if (cluster != null) {
            cluster.close();
        }
    }

    @Test
    void coordinatorWithCertificateSignedByTheCaCallsStatus() throws Exception {
        try (AgentClients clients = new AgentClients(Optional.of(coordinatorTls))) {
            assertThat(clients.forHost(agent).status(StatusRequest.getDefaultInstance(), TIMEOUT).getHostId()).isEqualTo(HOST);
        }
    }

    @Test
    void clientWithoutCertificateIsRefused() throws Exception {
        ManagedChannel channel = NettyChannelBuilder.forTarget(agent.getEndpoint(),
                TlsChannelCredentials.newBuilder().trustManager(ca.pem().toFile()).build()).build();
        try {
            assertThatThrownBy(() -> AgentGrpc.newBlockingStub(channel).withDeadlineAfter(10, TimeUnit.SECONDS)
                    .status(StatusRequest.getDefaultInstance()))
                    .isInstanceOfSatisfying(StatusRuntimeException.class,
                            e -> assertThat(e.getStatus().getCode()).isEqualTo(Status.Code.UNAVAILABLE));
        } finally {
            channel.shutdownNow();
        }
    }

    @Test
    void clientWithCertificateOfAnotherCaIsRefused() {
        try (AgentClients clients = new AgentClients(Optional.of(rogueTls))) {
            assertThatThrownBy(() -> clients.forHost(agent).status(StatusRequest.getDefaultInstance(), TIMEOUT))
                    .isInstanceOf(AgentCallException.class)
                    .hasMessageContaining(HOST);
        }
    }

    @Test
    void plaintextClientIsRefused() {
        try (AgentClients clients = new AgentClients()) {
            assertThatThrownBy(() -> clients.forHost(agent).status(StatusRequest.getDefaultInstance(), TIMEOUT))
                    .isInstanceOf(AgentCallException.class)
                    .hasMessageContaining(HOST);
        }
    }

    @Test
    void agentStatusCommandConnectsWithTheTlsOptions() {
        StringWriter out = new StringWriter();
        StringWriter err = new StringWriter();
        CommandLine cli = AgentMain.commandLine();
        cli.setOut(new PrintWriter(out, true));
        cli.setErr(new PrintWriter(err, true));

        int exit = cli.execute("status", "--agent", agent.getEndpoint(), "--tls-cert", coordinatorTls.certChain().toString(),
                "--tls-key", coordinatorTls.privateKey().toString(), "--tls-ca", coordinatorTls.trustedCa().toString());

        assertThat(exit).as("stderr: %s", err).isZero();
        assertThat(out.toString()).contains("host " + HOST);
    }

    @Test
    void keyOfAnotherCertificateIsRefusedNamingBothFiles() {
        TlsConfig mismatched = new TlsConfig(coordinatorTls.certChain(), rogueTls.privateKey(), coordinatorTls.trustedCa());

        assertThatThrownBy(() -> new AgentClients(Optional.of(mismatched)))
                .isInstanceOf(TransportSecurityException.class)
                .hasMessageContaining(rogueTls.privateKey().toString())
                .hasMessageContaining(coordinatorTls.certChain().toString());
    }

    @Test
    void missingCaFileIsNamed() {
        Path missing = dir.resolve("no-such-ca.pem");
        TlsConfig config = new TlsConfig(coordinatorTls.certChain(), coordinatorTls.privateKey(), missing);

        assertThatThrownBy(() -> new AgentClients(Optional.of(config)))
                .isInstanceOf(TransportSecurityException.class)
                .hasMessageContaining("--tls-ca " + missing + ": no such file");
    }
}
