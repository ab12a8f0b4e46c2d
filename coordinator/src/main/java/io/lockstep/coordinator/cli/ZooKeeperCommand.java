package io.lockstep.coordinator.cli;

import io.lockstep.cli.JsonText;
import io.lockstep.coordinator.embedded.EmbeddedZooKeeper;
import io.lockstep.zk.ZkConnect;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Spec;

import java.io.PrintWriter;
import java.time.Duration;
import java.util.Map;
import java.util.concurrent.Callable;

@Command(name = "zookeeper", mixinStandardHelpOptions = true,
        description = {
                "Manages the local single-node ZooKeeper that Lockstep uses when none is configured (no --zk, "
                        + "no $LOCKSTEP_ZK). Other commands start it on demand; these make it explicit.",
                "It runs as a background JVM listening on 127.0.0.1 only, with its data, port, pid and log in "
                        + "the state directory. For more than one machine, run a real ensemble and set $LOCKSTEP_ZK."},
        subcommands = {ZooKeeperCommand.Start.class, ZooKeeperCommand.Stop.class, ZooKeeperCommand.Status.class})
final class ZooKeeperCommand implements Callable<Integer> {
    private static final Duration START_TIMEOUT = Duration.ofSeconds(60);

    @Spec
    CommandSpec spec;

    @Override
    public Integer call() {
        throw new CommandLine.ParameterException(spec.commandLine(), "choose one of: start, stop, status");
    }

    static EmbeddedZooKeeper local(StateDirOption stateDir) {
        ZkConnect target = stateDir.resolve(null);
        return new EmbeddedZooKeeper(target.stateDir(), START_TIMEOUT);
    }

    @Command(name = "start", mixinStandardHelpOptions = true,
            description = "Starts the local ZooKeeper unless it already runs, and prints where it is.")
    static final class Start implements Callable<Integer> {
        @Spec
        CommandSpec spec;

        @Mixin
        StateDirOption stateDir;

        @Override
        public Integer call() throws Exception {
            EmbeddedZooKeeper server = local(stateDir);
            EmbeddedZooKeeper.Running running = server.ensureRunning();
            PrintWriter out = spec.commandLine().getOut();
            out.println((running.startedNow() ? "started" : "already running:") + " local ZooKeeper at "
                    + running.connectString() + " (pid " + running.pid() + ", data in "
                    + EmbeddedZooKeeper.dataDir(server.stateDir()) + ", log " + server.logFile() + ")");
            out.flush();
            return ExitCode.OK.code();
        }
    }

    @Command(name = "stop", mixinStandardHelpOptions = true,
            description = "Stops the local ZooKeeper and waits until it has exited. Agents using it lose their sessions.")
    static final class Stop implements Callable<Integer> {
        @Spec
        CommandSpec spec;

        @Mixin
        StateDirOption stateDir;

        @Override
        public Integer call() throws Exception {
            EmbeddedZooKeeper server = local(stateDir);
            PrintWriter out = spec.commandLine().getOut();
            out.println(server.stop() ? "stopped the local ZooKeeper in " + server.stateDir()
                    : "no local ZooKeeper was running in " + server.stateDir());
            out.flush();
            return ExitCode.OK.code();
        }
    }

    @Command(name = "status", mixinStandardHelpOptions = true,
            description = "Tells whether the local ZooKeeper runs and where; exit 5 when it does not.")
    static final class Status implements Callable<Integer> {
        @Spec
        CommandSpec spec;

        @Mixin
        StateDirOption stateDir;

        @Option(names = "--json", description = "Print the status as JSON on stdout.")
        boolean json;

        @Override
        public Integer call() {
            EmbeddedZooKeeper.Status status = local(stateDir).status();
            PrintWriter out = spec.commandLine().getOut();
            if (json) {
                Map<String, Object> result = JsonText.object();
                result.put("running", status.running());
                result.put("connectString", status.connectString().orElse(null));
                result.put("pid", status.pid().orElse(null));
                result.put("stateDir", status.stateDir().toString());
                out.println(JsonText.print(result));
            } else {
                out.println(status.running()
                        ? "local ZooKeeper running at " + status.connectString().orElseThrow() + " (pid "
                                + status.pid().map(String::valueOf).orElse("unknown") + ", state in " + status.stateDir() + ")"
                        : "no local ZooKeeper running in " + status.stateDir());
            }
            out.flush();
            return status.running() ? ExitCode.OK.code() : ExitCode.ZK_UNAVAILABLE.code();
        }
    }
}
