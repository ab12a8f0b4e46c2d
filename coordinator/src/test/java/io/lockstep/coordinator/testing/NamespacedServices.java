package io.lockstep.coordinator.testing;

import io.lockstep.agent.cgroup.CgroupLayout;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import java.util.stream.Stream;

/**
 * Services of a deployment as processes, the way a container runtime would start them, on a
 * machine without one: each in its own network namespace of a {@link NetnsLab} (one node per
 * service), its own mount namespace (an /etc/hosts resolving every service's name, its volumes
 * bound at their targets, a private /run/lockstep) and its own UTS namespace (the service's
 * hostname). {@code agent …} and {@code coordinator …} run as the image's launchers run them
 * ({@code java $LOCKSTEP_JAVA_OPTS -cp … Main "$@"}), on this build's class path. {@link #exec}
 * joins a running service's namespaces, as {@code docker compose exec} does. {@link #close} stops
 * everything, removes the namespaces, the given cgroup roots and the directories it created.
 */
public final class NamespacedServices implements AutoCloseable {
    private final NetnsLab lab;
    private final Path dir;
    private final Path hosts;
    private final Map<String, Process> running = new LinkedHashMap<>();
    private final SharedMountTargets mountTargets;
    private final List<String> cgroupRoots = new ArrayList<>();

    /** A volume or bind mount: {@code source} on this machine at {@code target} in the service. */
    public record Mount(Path source, Path target) {
    }

    private NamespacedServices(NetnsLab lab, Path dir, Path hosts) throws IOException {
        this.lab = lab;
        this.dir = dir;
        this.hosts = hosts;
        this.mountTargets = SharedMountTargets.join();
    }

    /**
     * A lab with one node per service; {@code aliases} are more names per service that resolve to
     * its address (its hostname, e.g., or the names an example configuration uses).
     */
    public static NamespacedServices start(Map<String, List<String>> aliases) throws IOException, InterruptedException {
        NetnsLab.removeLeftovers();
        NetnsLab lab = NetnsLab.start(aliases.keySet().toArray(String[]::new));
        Path dir = Files.createTempDirectory("lockstep-deploy-" + lab.id() + "-");
        StringBuilder text = new StringBuilder("127.0.0.1 localhost\n");
        for (Map.Entry<String, List<String>> service : aliases.entrySet()) {
            text.append(lab.address(service.getKey())).append(' ').append(service.getKey());
            service.getValue().forEach(alias -> text.append(' ').append(alias));
            text.append('\n');
        }
        Path hosts = dir.resolve("hosts");
        Files.writeString(hosts, text.toString(), StandardCharsets.UTF_8);
        return new NamespacedServices(lab, dir, hosts);
    }

    public Path dir() {
        return dir;
    }

    public String namespace(String service) {
        return lab.namespace(service);
    }

    public String address(String service) {
        return lab.address(service);
    }

    /** The cgroup root an agent of this deployment uses: {@link #close} thaws, kills and removes it. */
    public void ownsCgroupRoot(String root) {
        cgroupRoots.add(root);
    }

    /** The log of a service (stdout and stderr). */
    public Path log(String service) {
        return dir.resolve(service + ".log");
    }

    public String logText(String service) throws IOException {
        return Files.exists(log(service)) ? Files.readString(log(service)) : "";
    }

    /** Starts {@code argv} as service {@code name}, with exactly {@code environment} (plus PATH). */
    public Process start(String name, String hostname, List<String> argv, Map<String, String> environment,
                         List<Mount> mounts) throws IOException {
        StringBuilder script = new StringBuilder("set -e; hostname \"$LOCKSTEP_TEST_HOSTNAME\"; mount --bind '")
                .append(hosts).append("' /etc/hosts; mkdir -p /run/lockstep; mount -t tmpfs -o mode=0755 lockstep-run /run/lockstep;");
        for (Mount mount : mounts) {
            if (mount.source().equals(mount.target())) {
                continue;
            }
            // Created here, before the service starts, and removed only by the last deployment to end: another
            // deployment running beside this one may have its services' mounts on the same fixed paths.
            mountTargets.create(mount.target());
            Files.createDirectories(mount.source());
            script.append(" mkdir -p '").append(mount.target()).append("'; mount --bind '").append(mount.source()).append("' '")
                    .append(mount.target()).append("';");
        }
        script.append(" unset LOCKSTEP_TEST_HOSTNAME; exec \"$@\"");
        List<String> command = new ArrayList<>(lab.enter(name));
        command.addAll(List.of("unshare", "--mount", "--uts", "--propagation", "private", "--", "/bin/sh", "-c",
                script.toString(), "sh"));
        command.addAll(launcher(argv, environment));
        ProcessBuilder builder = new ProcessBuilder(command).directory(Path.of("/").toFile())
                .redirectErrorStream(true).redirectOutput(ProcessBuilder.Redirect.appendTo(log(name).toFile()));
        builder.environment().clear();
        builder.environment().put("PATH", System.getenv().getOrDefault("PATH", "/usr/local/bin:/usr/bin:/bin"));
        builder.environment().putAll(environment);
        builder.environment().put("LOCKSTEP_TEST_HOSTNAME", hostname);
        Process process = builder.start();
        running.put(name, process);
        return process;
    }

    public Process process(String name) {
        return running.get(name);
    }

    /** What an exec'd command printed, and how it ended. */
    public record Exec(int exit, String output) {
    }

    /** Runs {@code argv} inside a running service's namespaces (network, mount, hostname), with its environment. */
    public Exec exec(String name, List<String> argv, Map<String, String> environment) throws IOException, InterruptedException {
        List<String> command = new ArrayList<>(List.of("nsenter", "--target", Long.toString(running.get(name).pid()), "--net",
                "--mount", "--uts", "--"));
        command.addAll(launcher(argv, environment));
        ProcessBuilder builder = new ProcessBuilder(command).directory(Path.of("/").toFile()).redirectErrorStream(true);
        builder.environment().clear();
        builder.environment().put("PATH", System.getenv().getOrDefault("PATH", "/usr/local/bin:/usr/bin:/bin"));
        builder.environment().putAll(environment);
        Process process = builder.start();
        String output = new String(process.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        if (!process.waitFor(120, TimeUnit.SECONDS)) {
            process.destroyForcibly();
            throw new AssertionError("in " + name + ": " + argv + " did not end within 120 s: " + output);
        }
        return new Exec(process.exitValue(), output);
    }

    /** {@code agent …} / {@code coordinator …} as the image's bin/ launchers run them; anything else as is. */
    private static List<String> launcher(List<String> argv, Map<String, String> environment) {
        String main = switch (argv.get(0)) {
            case "agent", "/opt/lockstep/bin/agent" -> "io.lockstep.agent.cli.AgentMain";
            case "coordinator", "/opt/lockstep/bin/coordinator" -> "io.lockstep.coordinator.cli.CoordinatorMain";
            default -> null;
        };
        if (main == null) {
            return argv;
        }
        List<String> command = new ArrayList<>(List.of(LocalCluster.javaBinary()));
        String javaOpts = environment.getOrDefault("LOCKSTEP_JAVA_OPTS", "").trim();
        if (!javaOpts.isEmpty()) {
            command.addAll(List.of(javaOpts.split("\\s+")));
        }
        command.addAll(List.of("-XX:TieredStopAtLevel=1", "-cp", System.getProperty("java.class.path"), main));
        command.addAll(argv.subList(1, argv.size()));
        return command;
    }

    @Override
    public void close() throws Exception {
        Exception first = null;
        List<String> names = new ArrayList<>(running.keySet());
        java.util.Collections.reverse(names);
        for (String name : names) {
            Process process = running.get(name);
            process.destroy();
            if (!process.waitFor(20, TimeUnit.SECONDS)) {
                process.destroyForcibly().waitFor(20, TimeUnit.SECONDS);
            }
        }
        try {
            for (String root : cgroupRoots) {
                CgroupLayout layout = CgroupLayout.detect(root);
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
        try {
            lab.close();
        } catch (Exception e) {
            first = first == null ? e : first;
        }
        try {
            mountTargets.close();
        } catch (IOException e) {
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
