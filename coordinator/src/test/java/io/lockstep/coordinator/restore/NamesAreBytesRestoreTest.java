package io.lockstep.coordinator.restore;

import io.lockstep.agent.nativeio.Native;
import io.lockstep.agent.proc.LockEntry;
import io.lockstep.coordinator.checkpoint.CheckpointOperation;
import io.lockstep.coordinator.checkpoint.CheckpointOptions;
import io.lockstep.coordinator.op.CheckpointResult;
import io.lockstep.coordinator.op.OperationListener;
import io.lockstep.coordinator.op.RestoreResult;
import io.lockstep.coordinator.testing.Invariants;
import io.lockstep.coordinator.testing.LocalCluster;
import io.lockstep.coordinator.testing.ProcLocksSnapshot;
import io.lockstep.manifest.ManifestCodec;
import io.lockstep.names.RawNames;
import io.lockstep.names.RecordedNames;
import io.lockstep.proto.CatalogManifest;
import io.lockstep.proto.FdRecord;
import io.lockstep.proto.Manifest;
import io.lockstep.proto.ProcessRecord;
import io.lockstep.proto.RunRequest;
import io.lockstep.proto.StagedProcess;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

import java.io.ByteArrayOutputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeMap;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

/**
 * Names are bytes: a program started by `agent run` with arguments, environment and working
 * directory that no charset decodes (spaces, a newline, quotes, an empty argument, '=' in a
 * value, UTF-8, and Latin-1 bytes that are not UTF-8) holds a POSIX lock on a file whose name is
 * such bytes too. It is checkpointed and restored, with its agents started under an empty
 * environment ({@code env -i}: the JVM's C locale) or under C.UTF-8, on the same host and on
 * another host that mounts the export under a non-ASCII mount point. The restored process's
 * /proc cmdline, environ and cwd must be the original's byte for byte, and its lock on the file's
 * inode. (This host has no Latin-1 locale: {@code locale -a} lists C, C.utf8 and POSIX only.)
 */
class NamesAreBytesRestoreTest {
    /** Holds a write lock on argv[1] (relative to its cwd), prints READY, waits. */
    private static final String HOLDER_SOURCE = """
            #include <errno.h>
            #include <fcntl.h>
            #include <stdio.h>
            #include <stdlib.h>
            #include <string.h>
            #include <unistd.h>
            int main(int argc, char **argv) {
                if (argc < 2) return 2;
                int fd = open(argv[1], O_RDWR | O_CREAT, 0644);
                if (fd < 0) { printf("open failed: %s\\n", strerror(errno)); return 1; }
                struct flock l = { .l_type = F_WRLCK, .l_whence = SEEK_SET, .l_start = 0, .l_len = 0 };
                if (fcntl(fd, F_SETLKW, &l) != 0) { printf("lock failed: %s\\n", strerror(errno)); return 1; }
                printf("READY %s\\n", getenv("LOCKSTEP_RESTORED") ? "restored" : "started");
                fflush(stdout);
                for (;;) pause();
            }
            """;
    /** Latin-1 "été": not UTF-8, so a RawNames string holds its bytes as escapes. */
    private static final String LATIN1_ETE = RawNames.decode(new byte[] {(byte) 0xe9, 't', (byte) 0xe9});
    private static final String CWD_NAME = "répertoire de travail " + LATIN1_ETE;
    private static final String LOCK_NAME = "verrou \"données\" " + LATIN1_ETE + ".lock";

    private LocalCluster cluster;
    private Path exportSource;

    @AfterEach
    void tearDown() throws Exception {
        if (cluster != null) {
            cluster.close();
        }
    }

    @ParameterizedTest(name = "agent under env -i {0}")
    @ValueSource(strings = {"", "LANG=C.UTF-8"})
    void aProgramWithNamesNoCharsetDecodesRestoresOnTheSameHostByteForByte(String locale) throws Exception {
        cluster = LocalCluster.start();
        List<String> prefix = new ArrayList<>(List.of("env", "-i"));
        if (!locale.isEmpty()) {
            prefix.add(locale);
        }
        cluster.startAgentProcess("h1", prefix, List.of());
        String holder = compileHolder();
        String cwd = cluster.dir() + "/" + CWD_NAME;
        mkdirs(cwd);

        int original = runHolder("h1", holder, cwd);
        Started before = started("h1", original, holder, cwd, cwd + "/" + LOCK_NAME);
        CheckpointResult checkpoint = new CheckpointOperation(cluster.coordinator(), CheckpointOptions.defaults(),
                OperationListener.SILENT).run("app");
        assertManifestKeepsTheBytes(checkpoint, "h1", cwd);
        cluster.killApplications();

        RestoreResult restored = new RestoreOperation(cluster.coordinator(), RestoreOptions.defaults()
                .withAllowRoot(true), OperationListener.SILENT).run("app");

        assertRestored(restored, "h1", "h1", before, cwd, cwd + "/" + LOCK_NAME);
        Invariants.assertAll(cluster);
    }

    @Test
    void aProgramWithNamesNoCharsetDecodesRestoresOnAnotherHostThatMountsTheExportUnderANonAsciiName()
            throws Exception {
        cluster = LocalCluster.start();
        exportSource = cluster.mountExport("export-src");
        String onA = cluster.dir() + "/mnt-a";
        String onB = cluster.dir() + "/montage à " + LATIN1_ETE;
        startAgentSeeingExportAt("hA", onA);
        startAgentSeeingExportAt("hB", onB);
        String holder = compileHolder();
        mkdirs(exportSource + "/" + CWD_NAME);

        int original = runHolder("hA", holder, onA + "/" + CWD_NAME);
        String lockFile = exportSource + "/" + CWD_NAME + "/" + LOCK_NAME; // as this test's mount namespace sees it
        Started before = started("hA", original, holder, onA + "/" + CWD_NAME, lockFile);
        CheckpointResult checkpoint = new CheckpointOperation(cluster.coordinator(), CheckpointOptions.defaults(),
                OperationListener.SILENT).run("app");
        assertManifestKeepsTheBytes(checkpoint, "hA", onA + "/" + CWD_NAME);
        cluster.killApplications();

        RestoreResult restored = new RestoreOperation(cluster.coordinator(), RestoreOptions.defaults()
                .withAllowRoot(true).withHostMap(Map.of("hA", "hB")), OperationListener.SILENT).run("app");

        assertRestored(restored, "hB", "hA", before, onB + "/" + CWD_NAME, lockFile);
        Invariants.assertAll(cluster);
    }

    /** An agent under an empty environment, in a mount namespace where the export is at {@code mountPoint}. */
    private void startAgentSeeingExportAt(String host, String mountPoint) throws Exception {
        String target = "\"$(printf %b '" + printfEscaped(mountPoint) + "')\"";
        cluster.startAgentProcess(host, List.of("env", "-i", "unshare", "--mount", "--propagation", "private", "--",
                "/bin/sh", "-c", "mkdir -p " + target + " && mount --bind '" + exportSource + "' " + target
                        + " && umount -l '" + exportSource + "' && exec \"$0\" \"$@\""), List.of("--network-fs", "tmpfs"));
    }

    /** What the program was started with, and its /proc view as started. */
    private record Started(int pid, byte[] cmdline, Set<String> environ, String cwd) {
    }

    private static final List<String> ARGS_AFTER_FILE = List.of("with space", "new\nline", "quotes \"'`", "",
            "données", "latin-1 " + LATIN1_ETE);
    private static final Map<String, String> ENVIRONMENT = new TreeMap<>(Map.of(
            "PATH", "/usr/bin:/bin",
            "EQUALS", "a=b=c",
            "UTF8", "données",
            "LATIN1", LATIN1_ETE,
            "SPACES_AND_NEWLINE", "x y\nz"));

    private int runHolder(String host, String holder, String cwd) throws Exception {
        List<String> argv = new ArrayList<>(List.of(holder, LOCK_NAME));
        argv.addAll(ARGS_AFTER_FILE);
        RunRequest request = RunRequest.newBuilder().setGroup("app").addAllArgv(argv).setCwd(cwd)
                .putAllEnv(ENVIRONMENT).build();
        int pid = cluster.run(host, RecordedNames.deflate(request));
        cluster.awaitReady(host, "app", pid);
        return pid;
    }

    private Started started(String host, int pid, String holder, String cwd, String lockFile) throws Exception {
        List<String> argv = new ArrayList<>(List.of(holder, LOCK_NAME));
        argv.addAll(ARGS_AFTER_FILE);
        byte[] cmdline = cmdline(pid);
        assertThat(cmdline).as("cmdline of pid " + pid + " on " + host + " is the argv sent, byte for byte")
                .isEqualTo(nulTerminated(argv));
        Set<String> environ = environ(pid);
        Set<String> sent = new HashSet<>();
        ENVIRONMENT.forEach((name, value) -> sent.add(name + "=" + value));
        assertThat(environ).as("environ of pid " + pid + " is the environment sent").isEqualTo(sent);
        assertThat(cwdSeenBy(pid)).as("cwd of pid " + pid).isEqualTo(RawNames.encode(cwd));
        assertHoldsLockOn(pid, lockFile);
        return new Started(pid, cmdline, environ, cwd);
    }

    private void assertManifestKeepsTheBytes(CheckpointResult checkpoint, String host, String cwd) throws Exception {
        CatalogManifest stored = checkpoint.catalogEntry().getManifestsList().stream()
                .filter(m -> m.getHostId().equals(host)).findFirst().orElseThrow();
        byte[] framed = cluster.coordinator().store().readVerified("app", checkpoint.checkpointId(), host,
                stored.getSha256(), stored.getSize());
        ProcessRecord process = ManifestCodec.decode(framed).getProcesses(0);
        assertThat(process.getCwd()).isEqualTo(cwd);
        assertThat(process.getRestart().getArgvList()).contains(LOCK_NAME, "latin-1 " + LATIN1_ETE, "new\nline", "");
        assertThat(process.getRestart().getEnvMap()).containsEntry("LATIN1", LATIN1_ETE).containsEntry("EQUALS", "a=b=c");
        assertThat(process.getFdsList()).extracting(FdRecord::getPath).contains(cwd + "/" + LOCK_NAME);
        // As stored: the display string beside the exact bytes.
        Manifest raw = Manifest.parseFrom(Arrays.copyOfRange(framed, framed.length - (int) bodyLength(framed),
                framed.length));
        FdRecord lockFd = raw.getProcesses(0).getFdsList().stream().filter(fd -> !fd.getRawPath().isEmpty())
                .findFirst().orElseThrow();
        assertThat(lockFd.getPath()).endsWith("verrou \"données\" \\xe9t\\xe9.lock");
        assertThat(lockFd.getRawPath().toByteArray()).isEqualTo(RawNames.encode(cwd + "/" + LOCK_NAME));
    }

    private static long bodyLength(byte[] framed) throws Exception {
        com.google.protobuf.CodedInputStream in = com.google.protobuf.CodedInputStream.newInstance(framed);
        int headerLength = in.readRawVarint32();
        in.pushLimit(headerLength);
        return io.lockstep.proto.ManifestHeader.parseFrom(in).getBodyLength();
    }

    private void assertRestored(RestoreResult restored, String on, String from, Started before, String cwd,
                                String lockFile) throws Exception {
        int pid = restored.processesByHost().get(on).stream().filter(p -> p.getSourceHostId().equals(from))
                .mapToInt(StagedProcess::getNewPid).findFirst().orElseThrow();
        await("restored pid " + pid + " on " + on + " prints READY restored").atMost(Duration.ofSeconds(30))
                .until(() -> cluster.output(on, "app", pid).contains("READY restored") || ProcessHandle.of(pid).isEmpty());
        assertThat(cluster.output(on, "app", pid)).as("output of restored pid " + pid).contains("READY restored");
        assertThat(cmdline(pid)).as("restored cmdline, byte for byte").isEqualTo(before.cmdline());
        Set<String> environ = environ(pid);
        environ.removeIf(entry -> entry.startsWith("LOCKSTEP_RESTORED=") || entry.startsWith("LOCKSTEP_CHECKPOINT="));
        assertThat(environ).as("restored environ, without the LOCKSTEP_* markers").isEqualTo(before.environ());
        assertThat(cwdSeenBy(pid)).as("restored cwd, byte for byte").isEqualTo(RawNames.encode(cwd));
        assertHoldsLockOn(pid, lockFile);
    }

    /** The process's cwd as its own mount namespace names it (a simulated host's mounts are its own). */
    private static byte[] cwdSeenBy(int pid) throws Exception {
        Process readlink = new ProcessBuilder("nsenter", "--target", Integer.toString(pid), "--mount", "--",
                "readlink", "/proc/" + pid + "/cwd").start();
        byte[] out = readlink.getInputStream().readAllBytes();
        assertThat(readlink.waitFor()).as("readlink /proc/" + pid + "/cwd in its mount namespace").isZero();
        return Arrays.copyOf(out, out.length - 1); // readlink's newline
    }

    private static void assertHoldsLockOn(int pid, String file) throws Exception {
        long inode = Native.lstat(file).inode();
        List<LockEntry> held = ProcLocksSnapshot.read().heldBy(pid);
        assertThat(held).as("locks of pid " + pid + " on " + RawNames.display(file) + " (inode " + inode + ")")
                .anySatisfy(lock -> {
                    assertThat(lock.inode()).isEqualTo(inode);
                    assertThat(lock.type()).isEqualTo("WRITE");
                });
    }

    private static byte[] cmdline(int pid) throws Exception {
        return Files.readAllBytes(Path.of("/proc", Integer.toString(pid), "cmdline"));
    }

    private static Set<String> environ(int pid) throws Exception {
        return new HashSet<>(RawNames.splitNul(Files.readAllBytes(Path.of("/proc", Integer.toString(pid), "environ"))));
    }

    private static byte[] nulTerminated(List<String> argv) {
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        for (String arg : argv) {
            out.writeBytes(RawNames.encode(arg));
            out.write(0);
        }
        return out.toByteArray();
    }

    private String compileHolder() throws Exception {
        Path source = cluster.dir().resolve("name-holder.c");
        Files.writeString(source, HOLDER_SOURCE);
        Path binary = cluster.dir().resolve("name-holder");
        Process gcc = new ProcessBuilder("gcc", "-Wall", "-Werror", "-o", binary.toString(), source.toString())
                .redirectErrorStream(true).start();
        String output = new String(gcc.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        assertThat(gcc.waitFor()).as("gcc name-holder.c: " + output).isZero();
        return binary.toString();
    }

    /** mkdir -p of a name's exact bytes: the shell gets them as ASCII printf escapes, whatever its locale. */
    private static void mkdirs(String path) throws Exception {
        Process mkdir = new ProcessBuilder("/bin/sh", "-c", "mkdir -p \"$(printf %b \"$1\")\"", "sh", printfEscaped(path))
                .inheritIO().start();
        assertThat(mkdir.waitFor()).as("mkdir " + RawNames.display(path)).isZero();
    }

    /** Every byte outside printable ASCII (and ', \\) as printf's %b octal escape \0ooo. */
    private static String printfEscaped(String name) {
        StringBuilder out = new StringBuilder();
        for (byte b : RawNames.encode(name)) {
            int c = b & 0xff;
            if (c >= 0x20 && c < 0x7f && c != '\'' && c != '\\') {
                out.append((char) c);
            } else {
                out.append(String.format("\\0%03o", c));
            }
        }
        return out.toString();
    }
}
