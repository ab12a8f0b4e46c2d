package io.lockstep.agent.cli;

import io.grpc.StatusRuntimeException;
import io.lockstep.proto.RunReply;
import io.lockstep.proto.RunRequest;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;
import picocli.CommandLine.Spec;
import picocli.CommandLine.Model.CommandSpec;

import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.Callable;

@Command(name = "run", mixinStandardHelpOptions = true,
        description = {"Start a command inside a group's cgroup on this host, through the local agent, and record how "
                + "to start it again (argv, cwd, environment, uid/gid) for restore. Prints the new pid.",
            "Example: agent run --group demo -- /usr/bin/myworker --config /srv/app.conf"})
final class RunCommand implements Callable<Integer> {
    @Spec
    CommandSpec spec;

    @Mixin
    AgentAddress agent;

    @Option(names = "--group", required = true, description = "The group the process joins.")
    String group;

    @Option(names = "--cwd", description = "Working directory (default: the current one).")
    Path cwd;

    @Option(names = "--uid", description = "Run as this uid (default: yours; root needs an agent started with --allow-root).")
    Integer uid;

    @Option(names = "--gid", description = "Run as this gid (default: yours).")
    Integer gid;

    @Option(names = "--env-file", paramLabel = "FILE",
            description = "NAME=VALUE lines (# comments) for variables that must not be recorded, e.g. passwords: the "
                    + "agent reads them from FILE now and again at restore, on the restoring host; the restart spec and "
                    + "manifests record only their names. FILE must be owned by the process's uid and "
                    + "writable by its owner only (e.g. mode 0600).")
    Path envFile;

    @Parameters(arity = "1..*", paramLabel = "COMMAND", description = "The command and its arguments (after --).")
    List<String> command;

    @Override
    public Integer call() throws Exception {
        RunRequest request = RunRequest.newBuilder()
                .setGroup(group)
                .addAllArgv(command)
                .setCwd((cwd != null ? cwd : Path.of("").toAbsolutePath()).toString())
                .putAllEnv(System.getenv())
                .setEnvFile(envFile == null ? "" : envFile.toAbsolutePath().normalize().toString())
                .setUid(uid != null ? uid : currentId("-u"))
                .setGid(gid != null ? gid : currentId("-g"))
                .build();
        try (AgentAddress.Connection connection = agent.connect()) {
            RunReply reply = connection.stub().run(request);
            spec.commandLine().getOut().println(reply.getPid());
            return AgentMain.OK;
        } catch (StatusRuntimeException e) {
            return ClientErrors.report(spec, "run", agent.address, e);
        }
    }

    private static int currentId(String flag) throws Exception {
        Process id = new ProcessBuilder("id", flag).redirectErrorStream(true).start();
        String out = new String(id.getInputStream().readAllBytes()).trim();
        id.waitFor();
        return Integer.parseInt(out);
    }
}
