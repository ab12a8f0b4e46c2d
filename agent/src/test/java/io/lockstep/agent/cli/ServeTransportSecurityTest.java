package io.lockstep.agent.cli;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import picocli.CommandLine;

import java.io.PrintWriter;
import java.io.StringWriter;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * `agent serve` refuses an insecure or incomplete transport configuration before it connects to
 * anything (the ZooKeeper address given here does not exist), with a message naming the fault.
 */
class ServeTransportSecurityTest {
    @TempDir
    Path dir;

    private final StringWriter err = new StringWriter();

    private int serve(String... extra) {
        List<String> args = new ArrayList<>(List.of("serve", "--host-id", "secure-test", "--zk", "127.0.0.1:1",
                "--state-dir", dir.resolve("state").toString()));
        args.addAll(List.of(extra));
        CommandLine cli = AgentMain.commandLine();
        cli.setOut(new PrintWriter(new StringWriter(), true));
        cli.setErr(new PrintWriter(err, true));
        return cli.execute(args.toArray(String[]::new));
    }

    @Test
    void plaintextOnNonLoopbackAddressIsRefused() {
        int exit = serve("--listen", "0.0.0.0:0");

        assertThat(exit).isEqualTo(AgentMain.BAD_ARGUMENTS);
        assertThat(err.toString())
                .contains("refusing to serve plaintext gRPC on 0.0.0.0:0")
                .contains("--tls-cert, --tls-key, --tls-ca and --tls-allowed-client")
                .contains("--insecure-plaintext");
    }

    @Test
    void incompleteTlsOptionsAreRefused() {
        int exit = serve("--listen", "0.0.0.0:0", "--tls-cert", dir.resolve("agent.pem").toString());

        assertThat(exit).isEqualTo(AgentMain.BAD_ARGUMENTS);
        assertThat(err.toString()).contains("--tls-key and --tls-ca are missing");
    }

    @Test
    void missingCertificateFileIsNamed() {
        Path missing = dir.resolve("no-such-agent.pem");

        int exit = serve("--listen", "0.0.0.0:0", "--tls-cert", missing.toString(),
                "--tls-key", dir.resolve("key.pem").toString(), "--tls-ca", dir.resolve("ca.pem").toString());

        assertThat(exit).isEqualTo(AgentMain.BAD_ARGUMENTS);
        assertThat(err.toString()).contains("--tls-cert " + missing + ": no such file");
    }

    @Test
    void tlsTogetherWithInsecurePlaintextIsRefused() {
        int exit = serve("--listen", "0.0.0.0:0", "--insecure-plaintext", "--tls-cert", dir.resolve("a.pem").toString(),
                "--tls-key", dir.resolve("k.pem").toString(), "--tls-ca", dir.resolve("ca.pem").toString());

        assertThat(exit).isEqualTo(AgentMain.BAD_ARGUMENTS);
        assertThat(err.toString()).contains("--insecure-plaintext contradicts");
    }

    @Test
    void malformedZkAuthIsRefusedWithoutEchoingIt() {
        int exit = serve("--zk-auth", "secret-without-user-part");

        assertThat(exit).isEqualTo(AgentMain.BAD_ARGUMENTS);
        assertThat(err.toString()).contains("USER:PASSWORD").doesNotContain("secret-without-user-part");
    }

    @Test
    void helpDocumentsTheSecurityOptions() {
        StringWriter out = new StringWriter();
        CommandLine cli = AgentMain.commandLine();
        cli.setOut(new PrintWriter(out, true));
        cli.execute("serve", "--help");

        assertThat(out.toString()).contains("--tls-cert", "--tls-key", "--tls-ca", "--insecure-plaintext", "--zk-auth");
    }
}
