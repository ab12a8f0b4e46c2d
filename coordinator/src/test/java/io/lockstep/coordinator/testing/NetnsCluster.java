package io.lockstep.coordinator.testing;

import io.lockstep.agent.cgroup.CgroupLayout;
import org.awaitility.core.ConditionTimeoutException;

import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStreamReader;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.stream.Stream;

import static org.awaitility.Awaitility.await;

/**
 * Lockstep on a {@link NetnsLab}: ZooKeeper, the coordinator ({@link NetnsCoordinator}) and one
 * agent per host, each a separate JVM in its own network namespace, talking only over the lab's
 * bridge. The test drives the coordinator through its stdin/stdout and reads what needs no network
 * (cgroups, logs, /proc) directly. {@link #close} kills every process it started, thaws and removes
 * the agents' cgroups and the namespaces, and deletes its directory, also after a failed test.
 */
public final class NetnsCluster implements AutoCloseable {
    /** Short, so that a cut agent's session expires in seconds; ZooKeeper's tick allows it. */
    public static final Duration AGENT_SESSION_TIMEOUT = Duration.ofSeconds(3);
    private static final int ZK_PORT = 2181;
    private static final int AGENT_PORT = 7411;

    private final NetnsLab lab;
    private final Path dir;
    private final String zkRoot;
    private final Map<String, Process> agents = new LinkedHashMap<>();
    private final List<String> hosts = new ArrayList<>();
    private final List<String> driverLines = new ArrayList<>();
    private final AtomicInteger seq = new AtomicInteger();
    private Process zooKeeper;
    private Process driver;
    private PrintStream toDriver;

    private NetnsCluster(NetnsLab lab) throws IOException {
        this.lab = lab;
        this.dir = Files.createTempDirectory("lockstep-nf-" + lab.id() + "-");
        this.zkRoot = "/lockstep-nf-" + lab.id().replace('-', '_');
    }

    /** A lab with nodes zk, coordinator and the hosts, ZooKeeper and the coordinator started, and one agent per host. */
    public static NetnsCluster start(String... hostIds) throws Exception {
        NetnsLab.removeLeftovers();
        List<String> nodes = new ArrayList<>(List.of("zk", "coordinator"));
        nodes.addAll(List.of(hostIds));
        NetnsCluster cluster = new NetnsCluster(NetnsLab.start(nodes.toArray(String[]::new)));
        try {
            cluster.startZooKeeper();
            cluster.startCoordinator();
            // The agent JVMs start side by side: on a loaded machine one start takes seconds.
            Map<String, Process> started = new LinkedHashMap<>();
            for (String host : hostIds) {
                started.put(host, cluster.launchAgent(host));
            }
            for (Map.Entry<String, Process> agent : started.entrySet()) {
                cluster.awaitRegistered(agent.getKey(), agent.getValue());
            }
            return cluster;
        } catch (Exception | AssertionError e) {
            cluster.close();
            throw e;
        }
    }

    public NetnsLab lab() {
        return lab;
    }

    public Path dir() {
        return dir;
    }

    private String zkConnect() {
        return lab.address("zk") + ":" + ZK_PORT;
    }

    private List<String> java(String node, String mainClass, String... args) {
        List<String> command = new ArrayList<>(lab.enter(node));
        command.addAll(List.of(LocalCluster.javaBinary(), "-Xmx192m", "-XX:TieredStopAtLevel=1", "-cp",
                System.getProperty("java.class.path"), mainClass));
        command.addAll(List.of(args));
        return command;
    }

    private void startZooKeeper() throws Exception {
        Path log = dir.resolve("zookeeper.log");
        zooKeeper = new ProcessBuilder(java("zk", NamespaceZooKeeper.class.getName(), lab.address("zk"),
                Integer.toString(ZK_PORT), dir.resolve("zk-data").toString()))
                .redirectErrorStream(true).redirectOutput(log.toFile()).start();
        await("ZooKeeper in namespace " + lab.namespace("zk") + " serves").atMost(Duration.ofSeconds(60))
                .until(() -> Files.readString(log).contains("READY") || !zooKeeper.isAlive());
        if (!zooKeeper.isAlive()) {
            throw new IllegalStateException("ZooKeeper exited: " + Files.readString(log));
        }
    }

    private void startCoordinator() throws Exception {
        driver = new ProcessBuilder(java("coordinator", NetnsCoordinator.class.getName(), zkConnect(), zkRoot,
                dir.resolve("store").toString()))
                .redirectError(dir.resolve("coordinator.log").toFile()).start();
        toDriver = new PrintStream(driver.getOutputStream(), true, StandardCharsets.UTF_8);
        Thread reader = new Thread(() -> {
            try (BufferedReader in = new BufferedReader(new InputStreamReader(driver.getInputStream(), StandardCharsets.UTF_8))) {
                String line;
                while ((line = in.readLine()) != null) {
                    synchronized (driverLines) {
                        driverLines.add(line);
                    }
                }
            } catch (IOException e) {
                // The driver is gone; waits for its lines time out and say so.
            }
        }, "netns-coordinator-reader");
        reader.setDaemon(true);
        reader.start();
        awaitLine("the coordinator in " + lab.namespace("coordinator") + " is ready", "READY", Duration.ofSeconds(60));
    }

    public String cgroupRoot(String host) {
        return "lockstep-nf-" + lab.id() + "-" + host;
    }

    public Path stateDir(String host) {
        return dir.resolve("agent-" + host);
    }

    public Path agentLog(String host) {
        return dir.resolve("agent-" + host + ".log");
    }

    public String agentLogText(String host) throws IOException {
        return Files.exists(agentLog(host)) ? Files.readString(agentLog(host)) : "";
    }

    /** Starts host's agent (its gRPC on the host's lab address) and waits until it is registered. */
    public Process startAgent(String host) throws Exception {
        Process agent = launchAgent(host);
        awaitRegistered(host, agent);
        return agent;
    }

    private Process launchAgent(String host) throws IOException {
        Files.createDirectories(stateDir(host));
        Process agent = new ProcessBuilder(java(host, "io.lockstep.agent.cli.AgentMain", "serve", "--host-id", host,
                "--listen", lab.address(host) + ":" + AGENT_PORT, "--insecure-plaintext", "--zk", zkConnect(),
                "--zk-root", zkRoot, "--cgroup-root", cgroupRoot(host), "--state-dir", stateDir(host).toString(),
                "--allow-root", "--socket", "none", "--session-timeout", AGENT_SESSION_TIMEOUT.toMillis() + "ms"))
                .redirectErrorStream(true).redirectOutput(ProcessBuilder.Redirect.appendTo(agentLog(host).toFile())).start();
        agents.put(host, agent);
        if (!hosts.contains(host)) {
            hosts.add(host);
        }
        return agent;
    }

    private void awaitRegistered(String host, Process agent) throws IOException {
        await("agent " + host + " registers").atMost(Duration.ofSeconds(60))
                .until(() -> registered(host) || !agent.isAlive());
        if (!agent.isAlive()) {
            throw new IllegalStateException("agent " + host + " exited: " + agentLogText(host));
        }
    }

    public long agentPid(String host) {
        return agents.get(host).pid();
    }

    /** SIGSTOP / SIGCONT the agent's JVM (not its group, not its freeze guard). */
    public void signalAgent(String host, String signal) throws IOException, InterruptedException {
        Process kill = new ProcessBuilder("kill", "-" + signal, Long.toString(agentPid(host))).redirectErrorStream(true).start();
        if (!kill.waitFor(10, TimeUnit.SECONDS) || kill.exitValue() != 0) {
            throw new IOException("kill -" + signal + " " + agentPid(host) + " failed");
        }
    }

    public boolean registered(String host) {
        return call("registered", host).equals("yes");
    }

    /**
     * One request to the coordinator; its reply's payload.
     *
     * @throws AssertionError carrying the coordinator's message when it answered ERR
     */
    public String call(String... fields) {
        Reply reply = request(fields);
        if (!reply.ok()) {
            throw new AssertionError("coordinator request " + fields[0] + " failed: " + reply.payload());
        }
        return reply.payload();
    }

    /** The coordinator's answer to request {@code id}. */
    public record Reply(String id, boolean ok, String payload) {
    }

    public Reply request(String... fields) {
        String id = Integer.toString(seq.incrementAndGet());
        toDriver.println(id + "\t" + String.join("\t", fields));
        String line = awaitLine("the coordinator answers " + fields[0], id + " ", Duration.ofSeconds(60));
        String rest = line.substring(id.length() + 1);
        return rest.startsWith("OK") ? new Reply(id, true, rest.substring(2).trim())
                : new Reply(id, false, rest.substring(3).trim());
    }

    /**
     * Starts an operation ("checkpoint" or "restore") of the group in the coordinator, pausing at
     * {@code pausePoint} ("none": no pause; see {@link NetnsCoordinator}); returns its id for
     * {@link #awaitOutcome}.
     */
    public String startOperation(String kind, String group, String pausePoint) {
        Reply started = request(kind, group, pausePoint);
        if (!started.ok()) {
            throw new AssertionError(kind + " of " + group + " did not start: " + started.payload());
        }
        return started.id();
    }

    /** Waits for an operation's outcome: "COMMIT id epoch hosts" or "FAILED reason host message". */
    public String awaitOutcome(String operationId) {
        String prefix = "EVENT DONE " + operationId + " ";
        return awaitLine("operation " + operationId + " ends", prefix, Duration.ofSeconds(90)).substring(prefix.length());
    }

    public void awaitPaused(String pausePoint) {
        awaitLine("the operation reaches " + pausePoint, "EVENT PAUSED " + pausePoint, Duration.ofSeconds(60));
    }

    public void resume() {
        call("resume");
    }

    /** Runs a checkpoint without pauses and asserts that it commits; returns "id epoch hosts". */
    public String checkpointCommits(String group) {
        String outcome = awaitOutcome(startOperation("checkpoint", group, "none"));
        if (!outcome.startsWith("COMMIT ")) {
            throw new AssertionError("checkpoint of " + group + " did not commit: " + outcome);
        }
        return outcome.substring("COMMIT ".length());
    }

    private String awaitLine(String what, String prefix, Duration timeout) {
        try {
            return await(what).atMost(timeout).until(() -> takeLine(prefix), Optional::isPresent).orElseThrow();
        } catch (ConditionTimeoutException e) {
            throw new AssertionError(e.getMessage() + "; coordinator lines so far: " + linesSoFar(), e);
        }
    }

    private Optional<String> takeLine(String prefix) {
        synchronized (driverLines) {
            for (int i = 0; i < driverLines.size(); i++) {
                if (driverLines.get(i).startsWith(prefix)) {
                    return Optional.of(driverLines.remove(i));
                }
            }
            return Optional.empty();
        }
    }

    private String linesSoFar() {
        synchronized (driverLines) {
            return String.join(" | ", driverLines);
        }
    }

    /** Starts a command in a group on a host through its agent's Run RPC; waits until it printed READY. */
    public int runReady(String host, String group, List<String> argv) throws IOException {
        List<String> fields = new ArrayList<>(List.of("run", host, group, dir.toString()));
        fields.addAll(argv);
        int pid = Integer.parseInt(call(fields.toArray(String[]::new)));
        Path log = stateDir(host).resolve("groups").resolve(group).resolve("logs").resolve(pid + ".log");
        await("pid " + pid + " on " + host + " prints READY").atMost(Duration.ofSeconds(60))
                .until(() -> (Files.exists(log) && Files.readString(log).contains("READY")) || ProcessHandle.of(pid).isEmpty());
        String output = Files.exists(log) ? Files.readString(log) : "";
        if (!output.contains("READY")) {
            throw new AssertionError("pid " + pid + " on " + host + " exited before READY: " + output);
        }
        return pid;
    }

    public CgroupLayout cgroups(String host) throws IOException {
        return CgroupLayout.detect(cgroupRoot(host));
    }

    public boolean frozen(String host, String group) throws IOException {
        return cgroups(host).forGroup(group).isFrozen();
    }

    /** Restore stubs started by this cluster's agents that still run. */
    public List<Long> stubPids() {
        String marker = dir.toString();
        return ProcessHandle.allProcesses()
                .filter(p -> p.info().commandLine().map(c -> c.contains(io.lockstep.agent.restore.StubBinary.NAME)
                        && c.contains(marker)).orElse(false))
                .map(ProcessHandle::pid)
                .toList();
    }

    /**
     * The invariants of docs/DESIGN.md that hold once operations have ended (as {@link Invariants} for a
     * {@link LocalCluster}): no group of any host frozen, no stub left, and each listed group's
     * catalog true (every entry's op decided COMMIT, its manifests matching their sha256).
     */
    public void assertInvariants(String... groups) {
        await("no group of network lab " + lab.id() + " is frozen").atMost(Duration.ofSeconds(40))
                .until(() -> frozenGroups().isEmpty());
        await("no restore stub of network lab " + lab.id() + " runs").atMost(Duration.ofSeconds(20))
                .until(() -> stubPids().isEmpty());
        for (String group : groups) {
            call("checkpoints", group);
        }
    }

    private List<String> frozenGroups() throws IOException {
        List<String> frozen = new ArrayList<>();
        for (String host : hosts) {
            CgroupLayout layout = cgroups(host);
            for (String group : layout.existingGroups()) {
                if (layout.forGroup(group).isFrozen()) {
                    frozen.add(host + "/" + group);
                }
            }
        }
        return frozen;
    }

    /** Kills every process of the group on every host (the application crashed). */
    public void killGroup(String group) throws IOException {
        for (String host : hosts) {
            CgroupLayout layout = cgroups(host);
            if (layout.existingGroups().contains(group)) {
                layout.forGroup(group).killAll(Duration.ofSeconds(10));
            }
        }
    }

    @Override
    public void close() throws Exception {
        Exception first = null;
        if (driver != null) {
            toDriver.close();
            driver.destroyForcibly().waitFor(30, TimeUnit.SECONDS);
        }
        for (Process agent : agents.values()) {
            agent.destroyForcibly().waitFor(30, TimeUnit.SECONDS);
        }
        if (zooKeeper != null) {
            zooKeeper.destroyForcibly().waitFor(30, TimeUnit.SECONDS);
        }
        try {
            for (String host : hosts) {
                CgroupLayout layout = cgroups(host);
                for (String group : layout.existingGroups()) {
                    layout.forGroup(group).freezer().thaw();
                    layout.forGroup(group).killAll(Duration.ofSeconds(10));
                    layout.forGroup(group).remove();
                }
                layout.removeRootIfEmpty();
            }
        } catch (Exception e) {
            first = e;
        }
        for (Long stub : stubPids()) {
            ProcessHandle.of(stub).ifPresent(ProcessHandle::destroyForcibly);
        }
        try {
            lab.close();
        } catch (Exception e) {
            first = first == null ? e : first;
        }
        try (Stream<Path> files = Files.walk(dir)) {
            files.sorted(Comparator.reverseOrder()).forEach(path -> path.toFile().delete());
        }
        if (first != null) {
            throw first;
        }
    }
}
