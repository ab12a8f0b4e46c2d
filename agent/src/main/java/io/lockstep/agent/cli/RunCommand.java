package io.lockstep.agent.cli;

import io.grpc.StatusRuntimeException;
import io.lockstep.agent.nativeio.Native;
import io.lockstep.names.RawNames;
import io.lockstep.names.RawPaths;
import io.lockstep.names.RecordedNames;
import io.lockstep.proto.RunReply;
import io.lockstep.proto.RunRequest;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;
import picocli.CommandLine.ParameterException;
import picocli.CommandLine.Parameters;
import picocli.CommandLine.Spec;
import picocli.CommandLine.Model.CommandSpec;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Optional;
import java.util.concurrent.Callable;

@Command(name = "run", mixinStandardHelpOptions = true,
        description = {"Start a command inside a group's cgroup on this host, through the local agent, and record how "
                + "to start it again (argv, cwd, environment, uid/gid) for restore. Prints the new pid.",
            "The command's stdin is /dev/null; its stdout and stderr go to one file the agent keeps, "
                + "<state-dir>/groups/GROUP/logs/PID.log (state dir of `agent serve`, default /var/lib/lockstep).",
            "Example: agent run --group demo -- /usr/bin/myworker --config /srv/app.conf"})
final class RunCommand implements Callable<Integer> {
    @Spec
    CommandSpec spec;

    @Mixin
    AgentAddress agent;

    @Option(names = "--group", required = true, description = "The group the process joins.")
    String group;

    /**
     * A {@link RawNames} string from the raw command line (see {@link RawArgs}), not a Path: the
     * JVM's charset cannot hold every directory name.
     */
    @Option(names = "--cwd", description = "Working directory (default: the current one).")
    String cwd;

    @Option(names = "--uid", paramLabel = "USER|UID", description = "Run as this user, by name or number (default: "
            + "yours; root needs an agent started with --allow-root). Its primary group is the default --gid.")
    String uid;

    @Option(names = "--gid", paramLabel = "GROUP|GID", description = "Run as this group, by name or number (default: "
            + "the primary group of --uid, or yours).")
    String gid;

    @Option(names = "--env-file", paramLabel = "FILE",
            description = "NAME=VALUE lines (# comments) for variables that must not be recorded, e.g. passwords: the "
                    + "agent reads them from FILE now and again at restore, on the restoring host; the restart spec and "
                    + "manifests record only their names. FILE must be owned by the process's uid and "
                    + "writable by its owner only (e.g. mode 0600).")
    String envFile; // a RawNames string, like --cwd

    @Mixin
    HookOptions hooks;

    @Parameters(arity = "1..*", paramLabel = "COMMAND", description = "The command and its arguments (after --).")
    List<String> command;

    @Override
    public Integer call() throws Exception {
        int runUid;
        Optional<Integer> primaryGid = Optional.empty();
        if (uid == null) {
            runUid = currentId("-u");
        } else {
            Optional<Accounts.User> user = Accounts.user(uid);
            if (user.isPresent()) {
                runUid = user.get().uid();
                primaryGid = Optional.of(user.get().primaryGid());
            } else if (Accounts.isNumber(uid)) {
                runUid = Integer.parseInt(uid);
                spec.commandLine().getErr().println("agent run: warning: uid " + runUid + " has no account on this host "
                        + "(no passwd entry): the program runs without a user name or home directory");
            } else {
                throw new ParameterException(spec.commandLine(), "--uid " + uid + ": no such user on this host");
            }
        }
        int runGid;
        if (gid != null) {
            runGid = Accounts.group(gid).or(() -> Accounts.isNumber(gid) ? Optional.of(Integer.parseInt(gid))
                    : Optional.empty()).orElseThrow(() -> new ParameterException(spec.commandLine(),
                    "--gid " + gid + ": no such group on this host"));
        } else if (uid == null) {
            runGid = currentId("-g");
        } else {
            runGid = primaryGid.orElseThrow(() -> new ParameterException(spec.commandLine(), "--uid " + uid
                    + " has no account on this host, so no primary group: pass --gid"));
        }
        // Names are bytes: argv (see RawArgs), environment and cwd go to the agent exactly as the
        // kernel holds them, never through the JVM's charset.
        String here = Native.readlink("/proc/self/cwd");
        String workingDirectory = cwd == null ? here : absolute(here, cwd);
        if (envFile != null && RawNames.hasEscapes(envFile)) {
            // The request carries the env file's name as a proto string (UTF-8 only), unlike cwd.
            throw new ParameterException(spec.commandLine(), "--env-file " + RawNames.display(envFile)
                    + ": the name is not valid UTF-8; move the file to a UTF-8 path");
        }
        RunRequest.Builder request = RunRequest.newBuilder()
                .setGroup(group)
                .addAllArgv(command)
                .setCwd(workingDirectory)
                .putAllEnv(RecordedNames.assignments(RawNames.splitNul(Files.readAllBytes(Path.of("/proc/self/environ")))))
                .setEnvFile(envFile == null ? "" : absolute(here, envFile))
                .setUid(runUid)
                .setGid(runGid);
        hooks.hook().ifPresent(request::setHook);
        try (AgentAddress.Connection connection = agent.connect()) {
            RunReply reply = connection.stub().run(RecordedNames.deflate(request.build()));
            spec.commandLine().getOut().println(reply.getPid());
            return AgentMain.OK;
        } catch (StatusRuntimeException e) {
            return ClientErrors.report(spec, "run", agent.address, e);
        }
    }

    private static String absolute(String here, String name) {
        return RawPaths.normalize(name.startsWith("/") ? name : RawPaths.resolve(here, name));
    }

    private static int currentId(String flag) throws Exception {
        Process id = new ProcessBuilder("id", flag).redirectErrorStream(true).start();
        String out = new String(id.getInputStream().readAllBytes()).trim();
        id.waitFor();
        return Integer.parseInt(out);
    }
}
