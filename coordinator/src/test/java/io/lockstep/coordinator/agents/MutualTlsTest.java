package io.lockstep.coordinator.agents;

import io.grpc.ManagedChannel;
import io.grpc.Status;
import io.grpc.StatusRuntimeException;
import io.grpc.TlsChannelCredentials;
import io.grpc.netty.shaded.io.grpc.netty.NettyChannelBuilder;
import io.lockstep.agent.cli.AgentMain;
import io.lockstep.coordinator.cli.CliRun;
import io.lockstep.coordinator.testing.LocalCluster;
import io.lockstep.coordinator.testing.TestCertificates;
import io.lockstep.proto.AgentGrpc;
import io.lockstep.proto.HostRecord;
import io.lockstep.proto.CaptureRequest;
import io.lockstep.proto.FreezeRequest;
import io.lockstep.proto.OpContext;
import io.lockstep.proto.RunRequest;
import io.lockstep.proto.StatusRequest;
import io.lockstep.proto.ThawRequest;
import io.lockstep.proto.ValidateRequest;
import org.assertj.core.api.ThrowableAssert.ThrowingCallable;
import io.lockstep.tls.TlsConfig;
import io.lockstep.tls.TransportSecurityException;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import picocli.CommandLine;

import java.io.PrintWriter;
import java.io.StringWriter;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.time.Duration;
import java.util.List;
import java.util.Optional;
import java.util.Set;
import java.util.concurrent.TimeUnit;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

/**
 * An agent serving mutual TLS (docs/DESIGN.md, "Security") answers a coordinator whose certificate its
 * CA signed and whose name is on its --tls-allowed-client list, and nobody else: not a client
 * without a certificate, not one signed by another CA, not one of the right CA but unlisted, not a
 * plaintext one.
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
    private static TlsConfig unlistedTls;
    private static HostRecord agent;

    @BeforeAll
    static void startTlsAgent() throws Exception {
        TestCertificates certificates = new TestCertificates(dir.resolve("pki"));
        ca = certificates.authority("lockstep-ca");
        TestCertificates.Authority rogueCa = certificates.authority("rogue-ca");
        TlsConfig agentTls = certificates.server("agent", ca, ca);
        coordinatorTls = certificates.client("coordinator", ca, ca);
        rogueTls = certificates.client("rogue", rogueCa, ca);
        unlistedTls = certificates.client("not-a-coordinator", ca, ca);
        cluster = LocalCluster.start();
        cluster.startAgent(HOST, config -> config.withTls(Optional.of(agentTls), false)
                .withAllowedClients(Set.of("coordinator")));
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
    void clientWithCertificateOfTheRightCaButNotOnTheAllowedListIsRefusedEveryRpc() throws Exception {
        ManagedChannel channel = NettyChannelBuilder.forTarget(agent.getEndpoint(), unlistedTls.channelCredentials()).build();
        try {
            AgentGrpc.AgentBlockingStub stub = AgentGrpc.newBlockingStub(channel).withDeadlineAfter(10, TimeUnit.SECONDS);
            OpContext ctx = OpContext.newBuilder().setGroup("tls-group").setOpId("ckpt-3").setEpoch(3).build();
            List<ThrowingCallable> calls = List.of(
                    () -> stub.status(StatusRequest.getDefaultInstance()),
                    () -> stub.freeze(FreezeRequest.newBuilder().setCtx(ctx).setArmOnly(true).build()),
                    () -> stub.thaw(ThawRequest.newBuilder().setCtx(ctx).build()),
                    () -> stub.capture(CaptureRequest.newBuilder().setCtx(ctx).build()).hasNext(),
                    () -> stub.validate(ValidateRequest.newBuilder().setCtx(ctx).build()),
                    () -> stub.run(RunRequest.newBuilder().setGroup("tls-group").addArgv("/bin/true").setUid(65534).setGid(65534).build()));
            for (ThrowingCallable call : calls) {
                assertThatThrownBy(call).isInstanceOfSatisfying(StatusRuntimeException.class, e -> {
                    assertThat(e.getStatus().getCode()).isEqualTo(Status.Code.PERMISSION_DENIED);
                    assertThat(e.getStatus().getDescription()).contains("[not-a-coordinator]")
                            .contains("--tls-allowed-client").contains("signed by the CA is not enough");
                });
            }
            assertThat(cluster.agent(HOST).groups().find("tls-group")).isEmpty();
        } finally {
            channel.shutdownNow();
        }
    }

    @Test
    void theAllowedCoordinatorMayNotRunCommandsWhichAreForLocalCallers() throws Exception {
        ManagedChannel channel = NettyChannelBuilder.forTarget(agent.getEndpoint(), coordinatorTls.channelCredentials()).build();
        try {
            assertThatThrownBy(() -> AgentGrpc.newBlockingStub(channel).withDeadlineAfter(10, TimeUnit.SECONDS)
                    .run(RunRequest.newBuilder().setGroup("tls-run").addArgv("/bin/true").setUid(65534).setGid(65534).build()))
                    .isInstanceOfSatisfying(StatusRuntimeException.class, e -> {
                        assertThat(e.getStatus().getCode()).isEqualTo(Status.Code.PERMISSION_DENIED);
                        assertThat(e.getStatus().getDescription()).contains("Run is for local callers");
                    });
            assertThat(cluster.agent(HOST).groups().find("tls-run")).isEmpty();
        } finally {
            channel.shutdownNow();
        }
    }

    @Test
    void anAgentWithTlsButNoAllowedClientRefusesToStart() {
        assertThatThrownBy(() -> cluster.startAgent("tls-open", config -> config.withTls(Optional.of(coordinatorTls), false)))
                .isInstanceOf(TransportSecurityException.class)
                .hasMessageContaining("--tls-allowed-client");
    }

    @Test
    void certificatesFromTlsInitWorkAsIssuedAndKeysAreOwnerOnly() throws Exception {
        Path out = dir.resolve("init");
        CliRun init = CliRun.of("tls", "init", "--hosts", "init-host,localhost", "--agent-san", "127.0.0.1", "--out", out.toString());
        CliRun again = CliRun.of("tls", "init", "--hosts", "init-host", "--out", out.toString());

        assertThat(init.exit()).as(init.toString()).isZero();
        assertThat(init.out()).contains("wrote 8 files").contains("--tls-allowed-client coordinator");
        try (var files = Files.list(out)) {
            for (Path file : files.toList()) {
                assertThat(Files.getPosixFilePermissions(file)).as(file.toString()).isEqualTo(PosixFilePermissions.fromString(
                        file.getFileName().toString().endsWith("-key.pem") ? "rw-------" : "rw-r--r--"));
            }
        }
        assertThat(again.exit()).isEqualTo(2);
        assertThat(again.err()).contains("ca.pem already exists");
        TlsConfig issuedAgent = new TlsConfig(out.resolve("agent-localhost.pem"), out.resolve("agent-localhost-key.pem"),
                out.resolve("ca.pem"));
        TlsConfig issuedCoordinator = new TlsConfig(out.resolve("coordinator.pem"), out.resolve("coordinator-key.pem"),
                out.resolve("ca.pem"));
        cluster.startAgent("init-host", config -> config.withTls(Optional.of(issuedAgent), false)
                .withAllowedClients(Set.of("coordinator")));
        HostRecord initAgent = cluster.coordinator().directory().host("init-host").orElseThrow();
        try (AgentClients clients = new AgentClients(Optional.of(issuedCoordinator))) {
            assertThat(clients.forHost(initAgent).status(StatusRequest.getDefaultInstance(), TIMEOUT).getHostId())
                    .isEqualTo("init-host");
        } finally {
            cluster.stopAgent("init-host");
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
