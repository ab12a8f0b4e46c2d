package io.lockstep.coordinator.restore;

import io.lockstep.coordinator.op.RestoreResult;
import io.lockstep.coordinator.checkpoint.CheckpointOperation;
import io.lockstep.coordinator.checkpoint.CheckpointOptions;
import io.lockstep.coordinator.op.CheckpointResult;
import io.lockstep.coordinator.op.OperationListener;
import io.lockstep.coordinator.testing.Invariants;
import io.lockstep.coordinator.testing.LocalCluster;
import io.lockstep.coordinator.testing.ProcLocksSnapshot;
import io.lockstep.manifest.ManifestCodec;
import io.lockstep.proto.CatalogManifest;
import io.lockstep.proto.FileIdentity;
import io.lockstep.proto.Manifest;
import io.lockstep.proto.MatchRule;
import io.lockstep.proto.StagedProcess;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

import java.io.IOException;
import java.io.RandomAccessFile;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

/**
 * Restore onto hosts that spell the file server otherwise: host hA mounts the export as
 * {@code localhost:/export}, host hB as {@code 127.0.0.1:/export}, each in a mount namespace of its
 * own. There is no NFS here: the export is one ext4 file system on a loop device, mounted by each
 * host from a block device node whose relative path reads {@code server:/export} (so mountinfo
 * shows that source, and both mounts share one superblock: the same inodes and file handles, as
 * two NFS clients of one server see), with ext4 counted as a network file system. The two
 * spellings share the address 127.0.0.1, resolved by each agent itself.
 */
class NfsSpellingRestoreTest {
    private LocalCluster cluster;
    private Path exportSource;
    private String loopDevice;

    @AfterEach
    void tearDown() throws Exception {
        try {
            if (exportSource != null) {
                new ProcessBuilder("umount", "-l", exportSource.toString()).inheritIO().start().waitFor();
            }
        } finally {
            try {
                if (cluster != null) {
                    cluster.close();
                }
            } finally {
                if (loopDevice != null) {
                    new ProcessBuilder("losetup", "-d", loopDevice).inheritIO().start().waitFor();
                }
            }
        }
    }

    private static String run(String... command) throws IOException, InterruptedException {
        Process process = new ProcessBuilder(command).redirectErrorStream(true).start();
        String output = new String(process.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        assertThat(process.waitFor()).as(String.join(" ", command) + ": " + output).isZero();
        return output.strip();
    }

    /**
     * Shell commands that mount the export as {@code server:/export} at {@code mountPoint}: a device
     * node for the loop device at {@code <names>/<server>:/export}, mounted from {@code names}.
     */
    private String spelledAs(String server, Path names, Path mountPoint) throws Exception {
        Path node = Files.createDirectories(names.resolve(server + ":")).resolve("export");
        String[] majorMinor = run("stat", "-c", "%t %T", loopDevice).split(" ");
        run("mknod", node.toString(), "b", Integer.toString(Integer.parseInt(majorMinor[0], 16)),
                Integer.toString(Integer.parseInt(majorMinor[1], 16)));
        return "mkdir -p '" + mountPoint + "' && (cd '" + names + "' && mount --no-canonicalize -t ext4 '" + server
                + ":/export' '" + mountPoint + "') && umount -l '" + exportSource + "'";
    }

    private Manifest manifestOf(CheckpointResult checkpoint, String host) throws Exception {
        CatalogManifest stored = checkpoint.catalogEntry().getManifestsList().stream()
                .filter(m -> m.getHostId().equals(host)).findFirst().orElseThrow();
        return ManifestCodec.decode(cluster.coordinator().store().readVerified("app", checkpoint.checkpointId(), host,
                stored.getSha256(), stored.getSize()));
    }

    @Test
    void processesRestoreWithHostsSwappedThroughTheOtherSpellingOfTheServerHoldingTheirLocksOnTheSameFiles()
            throws Exception {
        cluster = LocalCluster.start();
        Path image = cluster.dir().resolve("export.img");
        try (RandomAccessFile file = new RandomAccessFile(image.toFile(), "rw")) {
            file.setLength(32L << 20);
        }
        run("mkfs.ext4", "-q", image.toString());
        loopDevice = run("losetup", "-f", "--show", image.toString());
        exportSource = Files.createDirectories(cluster.dir().resolve("export-src"));
        run("mount", loopDevice, exportSource.toString());
        Files.writeString(exportSource.resolve("data"), "the data file");
        Files.writeString(exportSource.resolve("other"), "the other file");

        Path onA = cluster.dir().resolve("mnt-a");
        Path onB = cluster.dir().resolve("mnt-b");
        cluster.startAgentProcessInMountNamespace("hA", spelledAs("localhost", cluster.dir().resolve("names-a"), onA),
                List.of("--network-fs", "ext4"));
        cluster.startAgentProcessInMountNamespace("hB", spelledAs("127.0.0.1", cluster.dir().resolve("names-b"), onB),
                List.of("--network-fs", "ext4"));

        int pa = cluster.run("hA", "app", LocalCluster.worker("fd", "500", onA.resolve("data").toString(),
                "lock", "posix", "write", "500", "0", "10", "ready", "sleep"));
        int pb = cluster.run("hB", "app", LocalCluster.worker("fd", "501", onB.resolve("other").toString(),
                "lock", "posix", "write", "501", "0", "5", "ready", "sleep"));
        cluster.awaitReady("hA", "app", pa);
        cluster.awaitReady("hB", "app", pb);
        CheckpointResult checkpoint = new CheckpointOperation(cluster.coordinator(), CheckpointOptions.defaults(),
                OperationListener.SILENT).run("app");
        FileIdentity onHostA = manifestOf(checkpoint, "hA").getProcesses(0).getLocks(0).getIdentity();
        assertThat(onHostA.getSource()).isEqualTo("localhost:/export");
        assertThat(onHostA.getServer()).isEqualTo("localhost");
        assertThat(onHostA.getServerAddressesList()).as("localhost as hA resolved it").contains("127.0.0.1");
        assertThat(onHostA.getRelativePath()).isEqualTo("data");
        assertThat(onHostA.getFileHandle().isEmpty()).as("ext4 gives file handles").isFalse();
        FileIdentity onHostB = manifestOf(checkpoint, "hB").getProcesses(0).getLocks(0).getIdentity();
        assertThat(onHostB.getSource()).isEqualTo("127.0.0.1:/export");
        assertThat(onHostB.getServerAddressesList()).containsExactly("127.0.0.1");
        cluster.killApplications();

        RestoreResult restored = new RestoreOperation(cluster.coordinator(), RestoreOptions.defaults()
                .withAllowRoot(true).withHostMap(Map.of("hA", "hB", "hB", "hA")), OperationListener.SILENT).run("app");

        assertThat(restored.serverMatchesByHost().get("hB")).singleElement().satisfies(match -> {
            assertThat(match.getRecorded()).isEqualTo("localhost:/export");
            assertThat(match.getLocal()).isEqualTo("127.0.0.1:/export");
            assertThat(match.getRule()).isEqualTo(MatchRule.SHARED_ADDRESS);
            assertThat(match.getDetail()).isEqualTo("localhost and 127.0.0.1 both resolve to 127.0.0.1");
        });
        assertThat(restored.serverMatchesByHost().get("hA")).singleElement().satisfies(match -> {
            assertThat(match.getRecorded()).isEqualTo("127.0.0.1:/export");
            assertThat(match.getLocal()).isEqualTo("localhost:/export");
            assertThat(match.getRule()).isEqualTo(MatchRule.SHARED_ADDRESS);
        });
        assertRestoredHolds(restored, "hB", "hA", 500, onB.resolve("data"), exportSource.resolve("data"), 9);
        assertRestoredHolds(restored, "hA", "hB", 501, onA.resolve("other"), exportSource.resolve("other"), 4);
        Invariants.assertAll(cluster);
    }

    /** The process of {@code from} restored on {@code on} has fd {@code fd} open on the file and its lock held on it. */
    private static void assertRestoredHolds(RestoreResult restored, String on, String from, int fd, Path seenThere,
                                            Path file, long end) throws IOException {
        List<StagedProcess> processes = new ArrayList<>(restored.processesByHost().get(on));
        int pid = processes.stream().filter(p -> p.getSourceHostId().equals(from)).mapToInt(StagedProcess::getNewPid)
                .findFirst().orElseThrow();
        Path link = Path.of("/proc", Integer.toString(pid), "fd", Integer.toString(fd));
        // Release returns once the stub execs; while the kernel replaces a multi-threaded image the
        // old leader thread is a zombie and its fd directory reads as absent for a moment.
        await("restored pid " + pid + " on " + on + " runs its restart command with fd " + fd)
                .atMost(Duration.ofSeconds(30))
                .until(() -> Files.exists(link, LinkOption.NOFOLLOW_LINKS) || ProcessHandle.of(pid).isEmpty());
        assertThat(ProcessHandle.of(pid)).as("restored process " + pid + " on " + on).isPresent();
        assertThat(Files.readSymbolicLink(link)).as("the fd, reopened through " + on + "'s own mount").isEqualTo(seenThere);
        ProcLocksSnapshot.FileId inode = ProcLocksSnapshot.fileIdOf(file);
        assertThat(ProcLocksSnapshot.read().heldBy(pid)).as("locks of restored pid " + pid + " on " + on)
                .anySatisfy(held -> {
                    assertThat(inode.lockedBy(held)).as(held + " on " + inode).isTrue();
                    assertThat(held.type()).isEqualTo("WRITE");
                    assertThat(held.end()).isEqualTo(end);
                });
    }
}
