package io.lockstep.coordinator.deploy;

import io.lockstep.agent.cli.AgentMain;
import io.lockstep.coordinator.cli.CoordinatorMain;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.yaml.snakeyaml.DumperOptions;
import org.yaml.snakeyaml.LoaderOptions;
import org.yaml.snakeyaml.Yaml;
import org.yaml.snakeyaml.constructor.SafeConstructor;
import org.yaml.snakeyaml.representer.Representer;
import picocli.CommandLine;
import picocli.CommandLine.ParseResult;

import java.io.File;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Set;
import java.util.TreeSet;
import java.util.concurrent.TimeUnit;
import java.util.stream.Collectors;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.fail;

/**
 * The repository's docker-compose.yml, as Compose itself reads it: validated and normalized by
 * {@code docker-compose config} (Debian's docker-compose 1.29, which needs no Docker engine), then
 * checked against the deployment it must describe and against the real command lines of the agent
 * and the coordinator (parsed by picocli, never executed).
 *
 * <p>docker-compose 1.29 has no JSON output ({@code config --format} came with Compose v2), so its
 * YAML output is read with SnakeYAML. It also predates the Compose Specification's {@code cgroup}
 * key, which the agents need ({@code cgroup: host}) and Compose v2 supports: that one key is checked
 * in the file as written, and removed from the copy that docker-compose 1.29 validates.
 */
class DockerComposeTest {
    private static final List<String> ZOOKEEPERS = List.of("zk1", "zk2", "zk3");
    private static final List<String> AGENTS = List.of("agent1", "agent2", "agent3");
    private static final String COORDINATOR = "coordinator";
    private static final String SHARED_VOLUME = "shared";
    private static final String CGROUP_FS = "/sys/fs/cgroup";
    /** Service keys Compose v2 knows and docker-compose 1.29 rejects; checked on the raw file instead. */
    private static final Set<String> NEWER_THAN_1_29 = Set.of("cgroup");

    private static Path repo;
    private static Path composeFile;
    private static Map<String, Object> raw;

    @TempDir
    Path tmp;

    @BeforeAll
    static void findComposeFile() throws IOException {
        repo = repositoryRoot();
        composeFile = repo.resolve("docker-compose.yml");
        assertThat(composeFile).as("docker-compose.yml at the repository root").isRegularFile();
        raw = yaml().load(Files.readString(composeFile, StandardCharsets.UTF_8));
    }

    @Test
    void composeFileDescribesTheDeployment() throws Exception {
        Map<String, Object> config = dockerComposeConfig();
        Map<String, Object> services = map(config, "services");

        assertThat(services.keySet()).as("services").containsAll(ZOOKEEPERS).containsAll(AGENTS).contains(COORDINATOR);

        // ZooKeeper: the official image, distinct ids, every member listing the same ensemble, health-checked.
        Set<String> ids = new HashSet<>();
        Set<String> ensembles = new HashSet<>();
        for (String zk : ZOOKEEPERS) {
            Map<String, Object> service = map(services, zk);
            assertThat(string(service, "image")).as(zk + " image").matches("zookeeper(:.+)?");
            Map<String, Object> env = map(service, "environment");
            ids.add(String.valueOf(env.get("ZOO_MY_ID")));
            ensembles.add(String.valueOf(env.get("ZOO_SERVERS")));
            assertThat(service).as(zk + " healthcheck").containsKey("healthcheck");
        }
        assertThat(ids).as("ZOO_MY_ID of zk1..3").hasSize(3);
        assertThat(ensembles).as("ZOO_SERVERS is the same on every member").hasSize(1);
        String ensemble = ensembles.iterator().next();
        for (int i = 1; i <= 3; i++) {
            assertThat(ensemble).as("ZOO_SERVERS").contains("server." + i + "=zk" + i + ":2888:3888;2181");
        }

        // Agents: serve, distinct host ids and cgroup roots, one connect string naming the whole ensemble.
        Set<String> hostIds = new TreeSet<>();
        Set<String> cgroupRoots = new TreeSet<>();
        Set<String> connects = new TreeSet<>();
        for (String agent : AGENTS) {
            Map<String, Object> service = map(services, agent);
            ParseResult serve = parse(agent, strings(service, "command"), "serve");
            hostIds.add(value(serve, "--host-id", ""));
            cgroupRoots.add(value(serve, "--cgroup-root", "lockstep"));
            connects.add(value(serve, "--zk", "<none: --zk missing>"));
            assertThat(value(serve, "--listen", "127.0.0.1:7411")).as(agent + " --listen")
                    .startsWith("0.0.0.0:");

            Map<String, Object> health = map(service, "healthcheck");
            List<String> test = strings(health, "test");
            if (test.size() > 1 && test.get(0).startsWith("CMD")) {
                parse(agent + " healthcheck", test.subList(1, test.size()), null);
            }
            assertThat(service.get("privileged")).as(agent + " privileged").isEqualTo(true);
            assertThat(service).as(agent + ": pid: host is not wanted").doesNotContainKey("pid");
            Volume cgroupFs = volumes(service).stream().filter(v -> v.target().equals(CGROUP_FS)).findFirst()
                    .orElseThrow(() -> new AssertionError(agent + " does not mount " + CGROUP_FS));
            assertThat(cgroupFs.source()).as(agent + " " + CGROUP_FS + " source").isEqualTo(CGROUP_FS);
            assertThat(cgroupFs.readOnly()).as(agent + " " + CGROUP_FS + " read-only").isFalse();
            assertDependsOnHealthyZooKeeper(agent, service);
        }
        assertThat(hostIds).as("agents' --host-id").hasSize(AGENTS.size()).doesNotContain("");
        assertThat(cgroupRoots).as("agents' --cgroup-root (they share one cgroup tree)").hasSize(AGENTS.size());
        assertThat(connects).as("agents' --zk").hasSize(1);
        String connect = connects.iterator().next();
        assertThat(Arrays.stream(connect.split(",")).map(String::trim).collect(Collectors.toSet()))
                .as("--zk lists the three ZooKeeper servers").isEqualTo(Set.of("zk1:2181", "zk2:2181", "zk3:2181"));

        // Coordinator: serve on the same ensemble, the store on a volume.
        Map<String, Object> coordinator = map(services, COORDINATOR);
        ParseResult serve = parse(COORDINATOR, strings(coordinator, "command"), "serve");
        assertThat(value(serve, "--zk", "<none: --zk missing>")).as("coordinator --zk").isEqualTo(connect);
        String store = value(serve, "--store", "<none: --store missing>");
        assertThat(volumes(coordinator)).as("coordinator volumes").anySatisfy(v -> {
            assertThat(v.target()).isEqualTo(store);
            assertThat(v.isNamedVolume()).isTrue();
        });
        assertDependsOnHealthyZooKeeper(COORDINATOR, coordinator);

        // The shared volume ("NFS"): declared, and mounted at one path in every agent.
        assertThat(map(config, "volumes")).as("top-level volumes").containsKey(SHARED_VOLUME);
        Set<String> sharedTargets = new TreeSet<>();
        for (String agent : AGENTS) {
            List<Volume> shared = volumes(map(services, agent)).stream()
                    .filter(v -> v.source().equals(SHARED_VOLUME)).toList();
            assertThat(shared).as(agent + " mounts volume " + SHARED_VOLUME).hasSize(1);
            sharedTargets.add(shared.get(0).target());
        }
        assertThat(sharedTargets).as("mount point of volume " + SHARED_VOLUME + " in the agents").hasSize(1);

        // Every Lockstep service serves its metrics on a port it exposes to the compose network.
        for (String name : concat(AGENTS, List.of(COORDINATOR))) {
            Map<String, Object> service = map(services, name);
            ParseResult parsed = parse(name, strings(service, "command"), "serve");
            String listen = value(parsed, "--metrics-listen", "<none: --metrics-listen missing>");
            assertThat(strings(service, "expose")).as(name + " expose").contains(listen.substring(listen.lastIndexOf(':') + 1));
        }

                // Lockstep's services are built from this repository's Dockerfile.
        for (String name : concat(AGENTS, List.of(COORDINATOR))) {
            Map<String, Object> build = map(map(services, name), "build");
            Path context = Path.of(string(build, "context"));
            assertThat(context.toRealPath()).as(name + " build context").isEqualTo(repo.toRealPath());
            String dockerfile = Optional.ofNullable((String) build.get("dockerfile")).orElse("Dockerfile");
            assertThat(context.resolve(dockerfile).toRealPath()).as(name + " dockerfile")
                    .isEqualTo(repo.resolve("Dockerfile").toRealPath());
        }
    }

    /** What docker-compose 1.29 cannot check: the keys of the Compose Specification it predates. */
    @Test
    void agentsShareTheHostCgroupNamespace() {
        Map<String, Object> services = map(raw, "services");
        for (String agent : AGENTS) {
            assertThat(map(services, agent).get("cgroup")).as(agent + " cgroup (namespace)").isEqualTo("host");
        }
        for (Map.Entry<String, Object> service : services.entrySet()) {
            assertThat(((Map<?, ?>) service.getValue()).get("pid")).as(service.getKey() + " pid").isNotEqualTo("host");
        }
    }

    // ---- docker-compose ------------------------------------------------------------------------

    /** {@code docker-compose config} of the file (minus {@link #NEWER_THAN_1_29}), parsed. */
    private Map<String, Object> dockerComposeConfig() throws Exception {
        return dockerComposeConfig(tmp);
    }

    /** The repository's compose file as {@code docker-compose config} renders it (anchors, interpolation resolved). */
    static Map<String, Object> dockerComposeConfig(Path tmp) throws Exception {
        if (raw == null) {
            findComposeFile();
        }
        Path executable = dockerCompose().orElseThrow(() -> new AssertionError(
                "docker-compose is not installed, and this test needs it to validate docker-compose.yml: run "
                        + "the install step of .ci/run, i.e. .ci/install-tools.sh (it installs Debian's "
                        + "docker-compose 1.29, which works without a Docker engine)"));
        Path copy = tmp.resolve("docker-compose.yml");
        Files.writeString(copy, withoutNewerKeys(raw), StandardCharsets.UTF_8);
        // --project-directory: relative paths (build contexts) resolve against the repository, as for the original.
        List<String> command = List.of(executable.toString(), "-f", copy.toString(),
                "--project-directory", repo.toString(), "config");
        Process process = new ProcessBuilder(command)
                .redirectOutput(tmp.resolve("config.out").toFile())
                .redirectError(tmp.resolve("config.err").toFile())
                .start();
        if (!process.waitFor(60, TimeUnit.SECONDS)) {
            process.destroyForcibly();
            fail("docker-compose config did not finish within 60 s: " + command);
        }
        String out = Files.readString(tmp.resolve("config.out"));
        String err = Files.readString(tmp.resolve("config.err"));
        assertThat(process.exitValue()).as("docker-compose config of %s exits 0; stderr:%n%s", composeFile, err).isZero();
        Map<String, Object> config = yaml().load(out);
        assertThat(config).as("docker-compose config output").isNotNull().containsKey("services");
        return config;
    }

    private static String withoutNewerKeys(Map<String, Object> file) {
        Map<String, Object> copy = new LinkedHashMap<>(file);
        Map<String, Object> services = new LinkedHashMap<>();
        for (Map.Entry<String, Object> entry : map(file, "services").entrySet()) {
            @SuppressWarnings("unchecked")
            Map<String, Object> service = new LinkedHashMap<>((Map<String, Object>) entry.getValue());
            service.keySet().removeAll(NEWER_THAN_1_29);
            services.put(entry.getKey(), service);
        }
        copy.put("services", services);
        // x-* extension fields only carry the anchors, which SnakeYAML has already resolved.
        copy.keySet().removeIf(key -> key.startsWith("x-"));
        DumperOptions options = new DumperOptions();
        options.setDefaultFlowStyle(DumperOptions.FlowStyle.BLOCK);
        return new Yaml(new SafeConstructor(new LoaderOptions()), new Representer(options), options).dump(copy);
    }

    private static Optional<Path> dockerCompose() {
        String path = Optional.ofNullable(System.getenv("PATH")).orElse("/usr/local/bin:/usr/bin:/bin");
        return Arrays.stream(path.split(File.pathSeparator))
                .map(dir -> Path.of(dir, "docker-compose"))
                .filter(Files::isExecutable)
                .findFirst();
    }

    // ---- the real command lines ------------------------------------------------------------------

    /**
     * Parses {@code argv} (program name first) with the program's real picocli model, without
     * running it, and returns the parse result of its subcommand.
     *
     * @param expectedSubcommand the subcommand argv must name, or null for any
     */
    private static ParseResult parse(String where, List<String> argv, String expectedSubcommand) {
        assertThat(argv).as(where + " command").isNotEmpty();
        String program = argv.get(0);
        CommandLine cli = switch (program) {
            case "agent" -> AgentMain.commandLine();
            case "coordinator" -> CoordinatorMain.commandLine();
            default -> throw new AssertionError(where + ": command must start with agent or coordinator, not " + argv);
        };
        String[] args = argv.subList(1, argv.size()).toArray(String[]::new);
        ParseResult result;
        try {
            result = cli.parseArgs(args);
        } catch (CommandLine.ParameterException e) {
            String known = String.join(", ", cli.getSubcommands().keySet());
            throw new AssertionError(where + ": `" + String.join(" ", argv) + "` is not a valid " + program
                    + " command line: " + e.getMessage() + " (" + program + " subcommands: " + known + ")", e);
        }
        assertThat(result.subcommand()).as(where + ": `%s` names a subcommand", String.join(" ", argv)).isNotNull();
        if (expectedSubcommand != null) {
            assertThat(result.subcommand().commandSpec().name()).as(where + " subcommand").isEqualTo(expectedSubcommand);
        }
        assertThat(result.subcommand().unmatched()).as(where + " unmatched arguments").isEmpty();
        return result.subcommand();
    }

    /** An option's value as given on the command line (not its default), as text. */
    private static String value(ParseResult command, String option, String ifAbsent) {
        Object value = command.matchedOptionValue(option, null);
        return value == null ? ifAbsent : value.toString();
    }

    // ---- compose file shapes -----------------------------------------------------------------------

    /** One entry of a service's volumes, short ("src:dst[:mode]") or long syntax. */
    record Volume(String source, String target, boolean readOnly) {
        boolean isNamedVolume() {
            return !source.isEmpty() && !source.startsWith("/") && !source.startsWith(".") && !source.startsWith("~");
        }
    }

    static List<Volume> volumes(Map<String, Object> service) {
        List<Volume> volumes = new ArrayList<>();
        Object list = service.get("volumes");
        if (list == null) {
            return volumes;
        }
        for (Object entry : (List<?>) list) {
            if (entry instanceof String s) {
                String[] parts = s.split(":");
                if (parts.length == 1) {
                    volumes.add(new Volume("", parts[0], false));
                } else {
                    boolean ro = parts.length > 2 && List.of(parts[2].split(",")).contains("ro");
                    volumes.add(new Volume(parts[0], parts[1], ro));
                }
            } else if (entry instanceof Map<?, ?> m) {
                volumes.add(new Volume(String.valueOf(m.get("source") == null ? "" : m.get("source")),
                        String.valueOf(m.get("target")), Boolean.TRUE.equals(m.get("read_only"))));
            } else {
                throw new AssertionError("unexpected volume entry " + entry);
            }
        }
        return volumes;
    }

    private static void assertDependsOnHealthyZooKeeper(String name, Map<String, Object> service) {
        Object dependsOn = service.get("depends_on");
        assertThat(dependsOn).as(name + " depends_on (with conditions)").isInstanceOf(Map.class);
        for (String zk : ZOOKEEPERS) {
            Map<String, Object> condition = map(castMap(dependsOn), zk);
            assertThat(condition.get("condition")).as(name + " depends on " + zk).isEqualTo("service_healthy");
        }
    }

    @SuppressWarnings("unchecked")
    private static Map<String, Object> castMap(Object value) {
        return (Map<String, Object>) value;
    }

    @SuppressWarnings("unchecked")
    static Map<String, Object> map(Map<String, Object> parent, String key) {
        Object value = parent.get(key);
        assertThat(value).as(key).isInstanceOf(Map.class);
        return (Map<String, Object>) value;
    }

    private static String string(Map<String, Object> parent, String key) {
        Object value = parent.get(key);
        assertThat(value).as(key).isInstanceOf(String.class);
        return (String) value;
    }

    /** A command in list form; a string command would be split by Compose with shell rules we do not reimplement. */
    static List<String> strings(Map<String, Object> parent, String key) {
        Object value = parent.get(key);
        assertThat(value).as(key + " (in list form)").isInstanceOf(List.class);
        return ((List<?>) value).stream().map(String::valueOf).toList();
    }

    private static <T> List<T> concat(List<T> a, List<T> b) {
        List<T> all = new ArrayList<>(a);
        all.addAll(b);
        return all;
    }

    private static Yaml yaml() {
        return new Yaml(new SafeConstructor(new LoaderOptions()));
    }

    /** The directory with the reactor pom: the coordinator module's parent, wherever Maven runs from. */
    private static Path repositoryRoot() {
        for (Path dir = Path.of("").toAbsolutePath(); dir != null; dir = dir.getParent()) {
            if (Files.isRegularFile(dir.resolve("pom.xml")) && Files.isRegularFile(dir.resolve("coordinator/pom.xml"))) {
                return dir;
            }
        }
        throw new AssertionError("cannot find the repository root (pom.xml + coordinator/pom.xml) above "
                + Path.of("").toAbsolutePath());
    }
}
