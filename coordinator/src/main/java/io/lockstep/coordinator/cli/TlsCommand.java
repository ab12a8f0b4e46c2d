package io.lockstep.coordinator.cli;

import io.lockstep.coordinator.tls.TestClusterPki;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Spec;

import java.io.PrintWriter;
import java.nio.file.FileAlreadyExistsException;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.Callable;

@Command(name = "tls", mixinStandardHelpOptions = true,
        description = "Certificates for mutual TLS between coordinators and agents.",
        subcommands = TlsCommand.Init.class)
final class TlsCommand implements Callable<Integer> {
    @Spec
    CommandSpec spec;

    @Override
    public Integer call() {
        throw new CommandLine.ParameterException(spec.commandLine(), "choose: init");
    }

    @Command(name = "init", mixinStandardHelpOptions = true,
            description = {"Generates a test cluster's certificates in one step: a CA (ca.pem, ca-key.pem), a server"
                    + " certificate per agent host (agent-HOST.pem, agent-HOST-key.pem; its SAN is the host name that"
                    + " coordinators dial) and a client certificate for the coordinators (NAME.pem, NAME-key.pem, CN ="
                    + " NAME, which agents allow with --tls-allowed-client NAME). Keys are mode 0600; nothing is overwritten.",
                "For production, issue certificates from your own CA with the same shape."})
    static final class Init implements Callable<Integer> {
        @Spec
        CommandSpec spec;

        @Option(names = "--hosts", required = true, split = ",", paramLabel = "HOST",
                description = "The agents' host names, as coordinators reach them (comma-separated).")
        List<String> hosts;

        @Option(names = "--out", required = true, paramLabel = "DIR", description = "Directory for the files (created).")
        Path out;

        @Option(names = "--agent-san", paramLabel = "NAME",
                description = "Another name (DNS or IP) every agent certificate holds, e.g. 127.0.0.1 for agents on one machine (repeatable).")
        List<String> extraAgentNames = new ArrayList<>();

        @Option(names = "--coordinator-name", defaultValue = "coordinator", paramLabel = "NAME",
                description = "CN and SAN of the coordinators' client certificate (default: ${DEFAULT-VALUE}).")
        String coordinatorName;

        @Option(names = "--if-absent",
                description = "Do nothing (exit 0) when DIR already holds ca.pem: for a deployment's first-start step.")
        boolean ifAbsent;

        @Option(names = "--days", defaultValue = "365", description = "Validity in days (default: ${DEFAULT-VALUE}).")
        int days;

        @Override
        public Integer call() throws Exception {
            if (days < 1) {
                throw new CommandLine.ParameterException(spec.commandLine(), "--days must be at least 1");
            }
            for (String name : hosts) {
                if (!name.matches("[A-Za-z0-9][A-Za-z0-9.:-]*")) {
                    throw new CommandLine.ParameterException(spec.commandLine(), "--hosts: '" + name + "' is not a host name");
                }
            }
            if (ifAbsent && java.nio.file.Files.exists(out.resolve("ca.pem"))) {
                spec.commandLine().getOut().println(out.resolve("ca.pem") + " exists: certificates left as they are");
                return ExitCode.OK.code();
            }
            TestClusterPki.Issued issued;
            try {
                issued = new TestClusterPki(out, Duration.ofDays(days)).issue(hosts, extraAgentNames, coordinatorName);
            } catch (FileAlreadyExistsException e) {
                spec.commandLine().getErr().println("coordinator tls init: " + e.getFile() + " " + e.getReason());
                return ExitCode.USAGE.code();
            }
            PrintWriter w = spec.commandLine().getOut();
            w.println("wrote " + issued.files().size() + " files to " + out + " (keys mode 0600):");
            issued.files().forEach(file -> w.println("  " + file.getFileName()));
            Path dir = out.toAbsolutePath();
            w.println("agent on HOST:  agent serve --tls-cert " + dir.resolve("agent-HOST.pem") + " --tls-key "
                    + dir.resolve("agent-HOST-key.pem") + " --tls-ca " + dir.resolve("ca.pem") + " --tls-allowed-client "
                    + coordinatorName + " …");
            w.println("coordinators:   coordinator … --tls-cert " + dir.resolve(coordinatorName + ".pem") + " --tls-key "
                    + dir.resolve(coordinatorName + "-key.pem") + " --tls-ca " + dir.resolve("ca.pem"));
            return ExitCode.OK.code();
        }
    }
}
