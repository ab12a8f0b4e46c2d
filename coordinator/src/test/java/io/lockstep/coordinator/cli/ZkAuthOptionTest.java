package io.lockstep.coordinator.cli;

import io.lockstep.zk.ZkAuth;
import io.lockstep.zk.ZkClients;
import org.apache.curator.framework.CuratorFramework;
import org.apache.curator.test.TestingServer;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import picocli.CommandLine;

import java.io.PrintWriter;
import java.io.StringWriter;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Optional;

import static org.assertj.core.api.Assertions.assertThat;

/** The coordinator reaches a Lockstep root protected by digest ACLs with --zk-auth, and says what is missing without it. */
class ZkAuthOptionTest {
    private static final String ROOT = "/lockstep-auth-test";
    private static final Duration TIMEOUT = Duration.ofSeconds(5);

    @TempDir
    Path dir;

    private TestingServer server;
    private final StringWriter out = new StringWriter();
    private final StringWriter err = new StringWriter();

    @BeforeEach
    void protectedRoot() throws Exception {
        server = new TestingServer(true);
        try (CuratorFramework agent = ZkClients.connect(server.getConnectString(), TIMEOUT, TIMEOUT,
                Optional.of(ZkAuth.parse("lockstep:s3cret")), ROOT)) {
            agent.create().creatingParentsIfNeeded().forPath(ROOT + "/hosts");
        }
    }

    @AfterEach
    void stop() throws Exception {
        server.close();
    }

    private int status(String... extra) {
        CommandLine cli = CoordinatorMain.commandLine();
        cli.setOut(new PrintWriter(out, true));
        cli.setErr(new PrintWriter(err, true));
        String[] args = new String[] {"status", "--zk", server.getConnectString(), "--zk-root", ROOT,
            "--store", dir.resolve("store").toString()};
        String[] all = new String[args.length + extra.length];
        System.arraycopy(args, 0, all, 0, args.length);
        System.arraycopy(extra, 0, all, args.length, extra.length);
        return cli.execute(all);
    }

    @Test
    void withTheAgentsCredentialsStatusReadsTheRoot() {
        assertThat(status("--zk-auth", "lockstep:s3cret")).as("stderr: %s", err).isZero();
        assertThat(out.toString()).contains("hosts: 0 alive");
    }

    @Test
    void withoutCredentialsTheErrorSaysWhichOptionIsMissing() {
        int exit = status();

        assertThat(exit).isEqualTo(ExitCode.USAGE.code());
        assertThat(err.toString()).contains("ZooKeeper refused access to " + ROOT).contains("--zk-auth");
    }

    @Test
    void helpDocumentsTheSecurityOptions() {
        CommandLine cli = CoordinatorMain.commandLine();
        cli.setOut(new PrintWriter(out, true));
        cli.execute("checkpoint", "--help");

        assertThat(out.toString()).contains("--zk-auth", "--tls-cert", "--tls-key", "--tls-ca");
    }
}
