package io.lockstep.agent.cli;

import io.lockstep.agent.cgroup.CgroupLayout;
import io.lockstep.agent.cgroup.GroupCgroup;
import io.lockstep.agent.nativeio.Native;
import io.lockstep.agent.server.AgentConfig;
import io.lockstep.agent.server.AgentServer;
import io.lockstep.names.RawNames;
import io.lockstep.zk.testing.ZkTestRoot;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.extension.RegisterExtension;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

import java.io.ByteArrayOutputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Optional;
import java.util.Set;
import java.util.UUID;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * `agent run` itself, as a user types it: its JVM under an empty environment ({@code env -i}, the
 * C locale, where the JVM decodes every non-ASCII argument byte to '?') or under C.UTF-8 (where
 * bytes that are not UTF-8 have no form). The command's arguments, the environment and the
 * working directory (non-ASCII and not UTF-8) must reach the program byte for byte.
 */
class RunCommandBytesTest {
    private static final byte[] LATIN1_ETE = {(byte) 0xe9, 't', (byte) 0xe9};
    private final String root = "lockstep-test-" + UUID.randomUUID();
    private CgroupLayout layout;

    @RegisterExtension
    final ZkTestRoot zooKeeper = new ZkTestRoot();

    @TempDir
    Path dir;

    @AfterEach
    void cleanUp() throws Exception {
        if (layout != null) {
            GroupCgroup group = layout.forGroup("bytes");
            group.killAll(Duration.ofSeconds(10));
            group.remove();
            layout.removeRootIfEmpty();
        }
    }

    @ParameterizedTest(name = "agent run under env -i {0}")
    @ValueSource(strings = {"", "LANG=C.UTF-8"})
    void argumentsEnvironmentAndWorkingDirectoryReachTheProgramByteForByte(String locale) throws Exception {
        layout = CgroupLayout.detect(root);
        byte[] cwd = concat(RawNames.encode(dir.toString()), "/répertoire ".getBytes(StandardCharsets.UTF_8), LATIN1_ETE);
        List<byte[]> args = List.of("/bin/sh".getBytes(StandardCharsets.UTF_8),
                "-c".getBytes(StandardCharsets.UTF_8),
                "while :; do sleep 1; done".getBytes(StandardCharsets.UTF_8),
                "with space".getBytes(StandardCharsets.UTF_8), "new\nline".getBytes(StandardCharsets.UTF_8),
                "quotes \"'`$x".getBytes(StandardCharsets.UTF_8), new byte[0],
                "données".getBytes(StandardCharsets.UTF_8), LATIN1_ETE);
        List<byte[]> environment = List.of("PATH=/usr/bin:/bin".getBytes(StandardCharsets.UTF_8),
                "EQUALS=a=b=c".getBytes(StandardCharsets.UTF_8), concat("LATIN1=".getBytes(StandardCharsets.UTF_8),
                        LATIN1_ETE), "UTF8=données".getBytes(StandardCharsets.UTF_8));
        try (AgentServer agent = new AgentServer(new AgentConfig("h1", "127.0.0.1:0", zooKeeper.connectString(),
                "/" + root, root, Optional.empty(), dir.resolve("agent-state"), Duration.ofSeconds(10), true)
                .withTls(Optional.empty(), true)).start()) {
            StringBuilder script = new StringBuilder("mkdir -p " + bytesOf(cwd) + " && cd " + bytesOf(cwd)
                    + " && exec env -i");
            if (!locale.isEmpty()) {
                script.append(' ').append(locale);
            }
            for (byte[] entry : environment) {
                script.append(' ').append(bytesOf(entry));
            }
            script.append(" '").append(Path.of(System.getProperty("java.home"), "bin", "java")).append("' -XX:TieredStopAtLevel=1 -cp '")
                    .append(System.getProperty("java.class.path")).append("' ").append(AgentMain.class.getName())
                    .append(" run --agent 127.0.0.1:").append(agent.port()).append(" --group bytes --");
            for (byte[] arg : args) {
                script.append(' ').append(bytesOf(arg));
            }
            Process cli = new ProcessBuilder("/bin/sh", "-c", script.toString()).start();
            String out = new String(cli.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
            String err = new String(cli.getErrorStream().readAllBytes(), StandardCharsets.UTF_8);
            assertThat(cli.waitFor()).as("agent run: " + out + err).isZero();
            int pid = Integer.parseInt(out.strip());

            ByteArrayOutputStream cmdline = new ByteArrayOutputStream();
            for (byte[] arg : args) {
                cmdline.writeBytes(arg);
                cmdline.write(0);
            }
            assertThat(Files.readAllBytes(Path.of("/proc", Integer.toString(pid), "cmdline")))
                    .as("cmdline of pid " + pid).isEqualTo(cmdline.toByteArray());
            Set<String> sent = new HashSet<>();
            environment.forEach(entry -> sent.add(RawNames.decode(entry)));
            if (!locale.isEmpty()) {
                sent.add(locale); // the caller's environment, LANG too, is the program's
            }
            assertThat(new HashSet<>(RawNames.splitNul(Files.readAllBytes(Path.of("/proc", Integer.toString(pid),
                    "environ"))))).as("environ of pid " + pid).isEqualTo(sent);
            assertThat(RawNames.encode(Native.readlink("/proc/" + pid + "/cwd"))).as("cwd of pid " + pid)
                    .isEqualTo(cwd);
        }
    }

    /**
     * The first finding: {@code agent run --cwd "…/répertoire de travail" -- prog données.lock}
     * from a JVM in the C locale. Option values that name files ({@code --cwd}, {@code --env-file})
     * are taken from the raw command line too: a UTF-8 directory name and one that is not UTF-8.
     */
    @ParameterizedTest(name = "agent run --cwd --env-file under env -i {0}")
    @ValueSource(strings = {"", "LANG=C.UTF-8"})
    void cwdAndEnvFileOptionsAreTakenAsBytes(String locale) throws Exception {
        layout = CgroupLayout.detect(root);
        byte[] base = RawNames.encode(dir.toString());
        byte[] envDir = concat(base, "/réglages".getBytes(StandardCharsets.UTF_8));
        byte[] envFile = concat(envDir, "/secrets-données.env".getBytes(StandardCharsets.UTF_8));
        List<byte[]> workingDirectories = List.of(
                concat(base, "/répertoire de travail".getBytes(StandardCharsets.UTF_8)),
                concat(base, "/".getBytes(StandardCharsets.UTF_8), LATIN1_ETE));
        List<byte[]> args = List.of("/bin/sh".getBytes(StandardCharsets.UTF_8),
                "-c".getBytes(StandardCharsets.UTF_8),
                "while :; do sleep 1; done".getBytes(StandardCharsets.UTF_8),
                "données.lock".getBytes(StandardCharsets.UTF_8), LATIN1_ETE);
        try (AgentServer agent = new AgentServer(new AgentConfig("h1", "127.0.0.1:0", zooKeeper.connectString(),
                "/" + root, root, Optional.empty(), dir.resolve("agent-state"), Duration.ofSeconds(10), true)
                .withTls(Optional.empty(), true)).start()) {
            for (byte[] cwd : workingDirectories) {
                StringBuilder script = new StringBuilder("mkdir -p " + bytesOf(cwd) + " " + bytesOf(envDir)
                        + " && printf 'SECRET=s3cr=t\\n' > " + bytesOf(envFile) + " && chmod 600 " + bytesOf(envFile)
                        + " && exec env -i PATH=/usr/bin:/bin");
                if (!locale.isEmpty()) {
                    script.append(' ').append(locale);
                }
                script.append(" '").append(Path.of(System.getProperty("java.home"), "bin", "java")).append("' -XX:TieredStopAtLevel=1 -cp '")
                        .append(System.getProperty("java.class.path")).append("' ").append(AgentMain.class.getName())
                        .append(" run --agent 127.0.0.1:").append(agent.port()).append(" --group bytes --cwd ")
                        .append(bytesOf(cwd)).append(" --env-file ").append(bytesOf(envFile)).append(" --");
                for (byte[] arg : args) {
                    script.append(' ').append(bytesOf(arg));
                }
                Process cli = new ProcessBuilder("/bin/sh", "-c", script.toString()).start();
                String out = new String(cli.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
                String err = new String(cli.getErrorStream().readAllBytes(), StandardCharsets.UTF_8);
                assertThat(cli.waitFor()).as("agent run --cwd " + RawNames.display(RawNames.decode(cwd)) + ": " + out
                        + err).isZero();
                int pid = Integer.parseInt(out.strip());

                ByteArrayOutputStream cmdline = new ByteArrayOutputStream();
                for (byte[] arg : args) {
                    cmdline.writeBytes(arg);
                    cmdline.write(0);
                }
                assertThat(Files.readAllBytes(Path.of("/proc", Integer.toString(pid), "cmdline")))
                        .as("cmdline of pid " + pid).isEqualTo(cmdline.toByteArray());
                assertThat(RawNames.encode(Native.readlink("/proc/" + pid + "/cwd"))).as("cwd of pid " + pid)
                        .isEqualTo(cwd);
                assertThat(RawNames.splitNul(Files.readAllBytes(Path.of("/proc", Integer.toString(pid), "environ"))))
                        .as("environ of pid " + pid + " (from the env file)").contains("SECRET=s3cr=t");
            }
            // The request carries the env file's name as text: a name that is not UTF-8 is refused, named.
            byte[] latin1EnvFile = concat(base, "/".getBytes(StandardCharsets.UTF_8), LATIN1_ETE, ".env"
                    .getBytes(StandardCharsets.UTF_8));
            String refused = "printf 'SECRET=x\\n' > " + bytesOf(latin1EnvFile) + " && chmod 600 " + bytesOf(latin1EnvFile)
                    + " && exec env -i PATH=/usr/bin:/bin " + locale + " '" + Path.of(System.getProperty("java.home"),
                    "bin", "java") + "' -XX:TieredStopAtLevel=1 -cp '" + System.getProperty("java.class.path") + "' " + AgentMain.class.getName()
                    + " run --agent 127.0.0.1:" + agent.port() + " --group bytes --env-file " + bytesOf(latin1EnvFile)
                    + " -- /bin/true";
            Process cli = new ProcessBuilder("/bin/sh", "-c", refused).start();
            String err = new String(cli.getErrorStream().readAllBytes(), StandardCharsets.UTF_8);
            assertThat(cli.waitFor()).as("agent run --env-file <not UTF-8>: " + err).isEqualTo(2);
            assertThat(err).contains("--env-file " + RawNames.display(RawNames.decode(latin1EnvFile))
                    + ": the name is not valid UTF-8");
        }
    }

    /** A shell word for exact bytes, whatever the shell's locale: "$(printf %b '\0ooo…')". */
    private static String bytesOf(byte[] bytes) {
        StringBuilder out = new StringBuilder("\"$(printf %b '");
        for (byte b : bytes) {
            int c = b & 0xff;
            out.append(c >= 0x20 && c < 0x7f && c != '\'' && c != '\\' ? String.valueOf((char) c)
                    : String.format("\\0%03o", c));
        }
        return out.append("')\"").toString();
    }

    private static byte[] concat(byte[]... parts) {
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        for (byte[] part : parts) {
            out.writeBytes(part);
        }
        return out.toByteArray();
    }
}
