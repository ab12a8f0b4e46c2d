package io.lockstep.coordinator.security;

import io.lockstep.coordinator.embedded.EmbeddedZooKeeper;
import io.lockstep.coordinator.testing.LocalCluster;
import io.lockstep.coordinator.testing.PrivateTree;
import io.lockstep.manifest.ManifestKey;
import io.lockstep.zk.ZkClients;
import io.lockstep.zk.ZkConnect;
import org.apache.curator.framework.CuratorFramework;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HexFormat;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.UUID;
import java.util.concurrent.TimeUnit;
import java.util.stream.Stream;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

/**
 * Secrets at rest, end to end with real processes: an agent JVM, the `agent run` and `coordinator`
 * commands as child processes, every one started with umask 000 inherited from its caller. A
 * program gets one variable from the caller's environment (recorded) and one from an env file
 * (never recorded); it is checkpointed without and with manifest encryption, killed and restored.
 */
class SecretsAtRestTest {
    private static final List<String> UMASK_000 = List.of("/bin/sh", "-c", "umask 000 && exec \"$0\" \"$@\"");
    private static final String HOST = "node1";

    private LocalCluster cluster;
    /** Where the commands' output goes. */
    private Path work;
    private Path embeddedStateDir;

    @AfterEach
    void tearDown() throws Exception {
        try {
            if (embeddedStateDir != null) {
                new EmbeddedZooKeeper(embeddedStateDir, Duration.ofSeconds(60)).stop();
            }
        } finally {
            if (cluster != null) {
                cluster.close();
            }
        }
    }

    @Test
    void embeddedZooKeeperStateIsOwnerOnlyUnderUmask000(@TempDir Path tmp) throws Exception {
        work = tmp;
        Files.setPosixFilePermissions(tmp, PosixFilePermissions.fromString("rwxr-xr-x"));
        embeddedStateDir = tmp.resolve("state");
        Ran start = java(Map.of(), "io.lockstep.coordinator.cli.CoordinatorMain", "zookeeper", "start", "--state-dir",
                embeddedStateDir.toString());
        assertThat(start.exit()).as("zookeeper start: " + start).isZero();
        String connect = ZkConnect.localConnectString(ZkConnect.recordedPort(embeddedStateDir).orElseThrow());
        try (CuratorFramework zk = ZkClients.connect(connect, Duration.ofSeconds(10), Duration.ofSeconds(10))) {
            zk.create().creatingParentsIfNeeded().forPath("/lockstep-test-" + UUID.randomUUID() + "/catalog", new byte[16]);
        }
        Path data = EmbeddedZooKeeper.dataDir(embeddedStateDir);
        assertThat(PrivateTree.walk(data).stream().filter(Files::isRegularFile).map(f -> f.getFileName().toString()))
                .as("ZooKeeper's own files in " + data).anyMatch(name -> name.startsWith("log."));
        PrivateTree.assertOwnerOnly(embeddedStateDir);
        PrivateTree.assertUnreadableByAnotherUser(PrivateTree.walk(embeddedStateDir).stream()
                .filter(Files::isRegularFile).toList());
    }

    /** A command's exit status and output. */
    private record Ran(int exit, String out, String err) {
        @Override
        public String toString() {
            return "exit " + exit + "\n--- stdout\n" + out + "--- stderr\n" + err;
        }
    }

    @Test
    void writtenOwnerOnlyUnderUmask000EnvFileNeverRecordedManifestsEncrypted() throws Exception {
        cluster = LocalCluster.start();
        work = cluster.dir();
        // Reachable by anyone, as /var/lib is: only the modes Lockstep sets protect what it writes.
        Files.setPosixFilePermissions(cluster.dir(), PosixFilePermissions.fromString("rwxr-xr-x"));
        cluster.startAgentProcessThrough(HOST, UMASK_000);
        String endpoint = cluster.coordinator().directory().host(HOST).orElseThrow().getEndpoint();
        String group = "secrets-" + cluster.id();
        String fileSecret = "file-secret-" + UUID.randomUUID();
        String callerSecret = "caller-secret-" + UUID.randomUUID();
        Path envFile = cluster.dir().resolve("app.env");
        Files.writeString(envFile, "# database\nDB_PASSWORD=" + fileSecret + "\n\nAPI_MODE=test\n");
        Files.setPosixFilePermissions(envFile, PosixFilePermissions.fromString("rw-------"));
        Path keyFile = key("manifest.key");
        Path otherKeyFile = key("other.key");
        Path store = cluster.dir().resolve("store");
        Path marks = cluster.dir().resolve("marks");
        Path data = cluster.dir().resolve("data");

        // The caller's environment also defines DB_PASSWORD: the file's value wins and neither is recorded.
        List<String> runArgs = new ArrayList<>(List.of("io.lockstep.agent.cli.AgentMain", "run", "--agent", endpoint,
                "--group", group, "--env-file", envFile.toString(), "--"));
        runArgs.addAll(LocalCluster.worker("fd", "500", data.toString(), "lock", "posix", "write", "500", "0", "10",
                "append", marks.toString(), "started", "ready", "sleep"));
        Ran run = java(Map.of("CALLER_TOKEN", callerSecret, "DB_PASSWORD", "caller-" + fileSecret),
                runArgs.toArray(String[]::new));
        assertThat(run.exit()).as("agent run --env-file: " + run).isZero();
        int pid = Integer.parseInt(run.out().strip());
        cluster.awaitReady(HOST, group, pid);
        assertThat(environ(pid)).as("environment of the started process").contains("DB_PASSWORD=" + fileSecret)
                .contains("API_MODE=test").contains("CALLER_TOKEN=" + callerSecret);
        assertThat(umask(pid)).as("the application keeps the umask the agent inherited").isEqualTo("0000");

        // A plaintext checkpoint: the env file's variables appear by name only.
        assertThat(coordinator("checkpoint", "--group", group, "--store", store.toString()).exit()).isZero();
        List<Path> plainManifests = manifests(store);
        assertThat(plainManifests).hasSize(1);
        byte[] plain = Files.readAllBytes(plainManifests.get(0));
        assertThat(new String(plain, StandardCharsets.ISO_8859_1)).as("plaintext manifest").contains("DB_PASSWORD")
                .contains(envFile.toString()).contains("CALLER_TOKEN").contains(callerSecret).doesNotContain(fileSecret);

        Ran shown = coordinator("show", "latest", "--group", group, "--store", store.toString(), "--json");
        assertThat(shown.exit()).as("show --json: " + shown).isZero();
        assertThat(shown.out()).as("show --json").contains("CALLER_TOKEN").doesNotContain(callerSecret)
                .doesNotContain(fileSecret);
        Ran shownText = coordinator("show", "latest", "--group", group, "--store", store.toString());
        assertThat(shownText.out()).as("show").contains("CALLER_TOKEN").contains("DB_PASSWORD")
                .doesNotContain(callerSecret);
        assertThat(coordinator("show", "latest", "--group", group, "--store", store.toString(), "--json", "--show-env")
                .out()).as("show --json --show-env").contains(callerSecret).doesNotContain(fileSecret);

        // An encrypted checkpoint: nothing of the environment is readable in the store.
        assertThat(coordinator("checkpoint", "--group", group, "--store", store.toString(), "--manifest-key",
                keyFile.toString()).exit()).isZero();
        Path sealed = manifests(store).stream().filter(m -> !plainManifests.contains(m)).findFirst().orElseThrow();
        assertThat(ManifestKey.isSealed(Files.readAllBytes(sealed))).as(sealed + " is encrypted").isTrue();
        PrivateTree.assertNowhere("CALLER_TOKEN", sealed);
        Ran showWithoutKey = coordinator("show", "latest", "--group", group, "--store", store.toString());
        assertThat(showWithoutKey.exit()).as("show without the key: " + showWithoutKey).isEqualTo(11);
        assertThat(showWithoutKey.err()).contains("encrypted").contains("--manifest-key");

        cluster.killApplications();
        Ran wrongKey = coordinator("restore", "--group", group, "--allow-root", "--store", store.toString(),
                "--manifest-key", otherKeyFile.toString());
        assertThat(wrongKey.exit()).as("restore with another key: " + wrongKey).isEqualTo(11);
        assertThat(wrongKey.err()).as("restore with another key").contains("encrypted with another key")
                .contains(otherKeyFile.toString());
        Ran noKey = coordinator("restore", "--group", group, "--allow-root", "--store", store.toString());
        assertThat(noKey.exit()).as("restore without a key: " + noKey).isEqualTo(11);
        assertThat(noKey.err()).contains("pass its key with --manifest-key");
        assertThat(Files.readString(marks).lines()).as("nothing restored by a refused restore").hasSize(1);

        Ran restore = coordinator("restore", "--group", group, "--allow-root", "--store", store.toString(),
                "--manifest-key", keyFile.toString());
        assertThat(restore.exit()).as("restore with the key: " + restore).isZero();
        int restored = restoredPid(marks);
        await("restored pid " + restored + " runs its restart command").atMost(Duration.ofSeconds(60))
                .until(() -> environ(restored).contains("LOCKSTEP_RESTORED=1") || !ProcessHandle.of(restored).isPresent());
        assertThat(environ(restored)).as("environment of the restored process, env file read again")
                .contains("DB_PASSWORD=" + fileSecret).contains("API_MODE=test").contains("CALLER_TOKEN=" + callerSecret);
        assertThat(umask(restored)).as("the restored application keeps the umask the agent inherited").isEqualTo("0000");

        Path agentState = cluster.agentConfig(HOST).stateDir();
        PrivateTree.assertNowhere(fileSecret, store, agentState);
        assertThat(cluster.agentProcessLog(HOST)).as("agent log").doesNotContain(fileSecret).doesNotContain(callerSecret);
        PrivateTree.assertOwnerOnly(store);
        PrivateTree.assertOwnerOnly(agentState);
        assertThat(agentState.resolve("groups").resolve(group).resolve("specs").resolve(restored + ".spec"))
                .as("spec of the restored process").exists();
        List<Path> written = new ArrayList<>();
        for (Path root : List.of(store, agentState)) {
            PrivateTree.walk(root).stream().filter(Files::isRegularFile).forEach(written::add);
        }
        PrivateTree.assertUnreadableByAnotherUser(written);
    }

    /** A 0600 file with a fresh 256-bit key in hex. */
    private Path key(String name) throws IOException {
        byte[] key = new byte[32];
        new java.security.SecureRandom().nextBytes(key);
        Path file = cluster.dir().resolve(name);
        Files.createFile(file, PosixFilePermissions.asFileAttribute(PosixFilePermissions.fromString("rw-------")));
        Files.writeString(file, HexFormat.of().formatHex(key) + "\n");
        return file;
    }

    private Ran coordinator(String... args) throws Exception {
        List<String> all = new ArrayList<>(Arrays.asList(args));
        all.addAll(List.of("--zk", cluster.zkConnect(), "--zk-root", cluster.zkRoot()));
        List<String> command = new ArrayList<>(List.of("io.lockstep.coordinator.cli.CoordinatorMain"));
        command.addAll(all);
        return java(Map.of(), command.toArray(String[]::new));
    }

    /** A Lockstep command as a JVM of its own, started with umask 000. */
    private Ran java(Map<String, String> env, String... mainAndArgs) throws Exception {
        List<String> command = new ArrayList<>(UMASK_000);
        command.addAll(List.of(LocalCluster.javaBinary(), "-Xmx256m", "-XX:TieredStopAtLevel=1", "-cp",
                System.getProperty("java.class.path")));
        command.addAll(Arrays.asList(mainAndArgs));
        ProcessBuilder builder = new ProcessBuilder(command).redirectInput(ProcessBuilder.Redirect.from(new java.io.File("/dev/null")));
        builder.environment().putAll(env);
        Path out = Files.createTempFile(work, "cli-", ".out");
        Path err = Files.createTempFile(work, "cli-", ".err");
        Process process = builder.redirectOutput(out.toFile()).redirectError(err.toFile()).start();
        if (!process.waitFor(180, TimeUnit.SECONDS)) {
            process.destroyForcibly();
            throw new AssertionError(String.join(" ", mainAndArgs) + " did not end within 180 s: " + Files.readString(err));
        }
        return new Ran(process.exitValue(), Files.readString(out), Files.readString(err));
    }

    private static String environ(int pid) {
        try {
            return new String(Files.readAllBytes(Path.of("/proc", Integer.toString(pid), "environ")),
                    StandardCharsets.UTF_8).replace('\0', '\n');
        } catch (IOException gone) {
            return "";
        }
    }

    private static String umask(int pid) throws IOException {
        return Files.readAllLines(Path.of("/proc", Integer.toString(pid), "status")).stream()
                .filter(line -> line.startsWith("Umask:")).map(line -> line.substring("Umask:".length()).strip())
                .findFirst().orElseThrow();
    }

    private static List<Path> manifests(Path store) throws IOException {
        try (Stream<Path> files = Files.walk(store)) {
            return files.filter(f -> f.toString().endsWith(".manifest")).sorted().toList();
        }
    }

    /** The pid the restored worker appended to the marks file ("started pid=P restored=true"). */
    private static int restoredPid(Path marks) throws Exception {
        await("the restored worker appends its mark").atMost(Duration.ofSeconds(60))
                .until(() -> Files.readString(marks).lines().count() >= 2);
        Optional<String> line = Files.readString(marks).lines().skip(1).findFirst();
        String mark = line.orElseThrow();
        int at = mark.indexOf("pid=");
        return Integer.parseInt(mark.substring(at + 4).split("\\s+")[0]);
    }
}
