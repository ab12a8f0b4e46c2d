package io.lockstep.coordinator.restore;

import io.lockstep.manifest.ManifestCodec;
import io.lockstep.agent.restore.AllowedRoots;
import io.lockstep.agent.server.AgentConfig;
import io.lockstep.coordinator.checkpoint.CheckpointOperation;
import io.lockstep.coordinator.checkpoint.CheckpointOptions;
import io.lockstep.coordinator.checkpoint.CheckpointResult;
import io.lockstep.coordinator.op.FailureReason;
import io.lockstep.coordinator.op.OperationFailedException;
import io.lockstep.coordinator.op.OperationListener;
import io.lockstep.coordinator.store.CheckpointStore;
import io.lockstep.coordinator.testing.Invariants;
import io.lockstep.coordinator.testing.LocalCluster;
import io.lockstep.coordinator.testing.ProcLocksSnapshot;
import io.lockstep.proto.CatalogEntry;
import io.lockstep.proto.FdRecord;
import io.lockstep.proto.LockRecord;
import io.lockstep.proto.Manifest;
import io.lockstep.proto.ManifestHeader;
import io.lockstep.proto.ProcessRecord;
import io.lockstep.zk.ZkJson;
import com.google.protobuf.ByteString;
import org.apache.curator.framework.CuratorFramework;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.TestInstance;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.function.UnaryOperator;
import java.util.stream.Stream;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.awaitility.Awaitility.await;

/**
 * A real checkpoint of a real lock holder, then restores of hostile variants of its stored
 * manifest — as written by someone who can write the store, and for most cases the catalog's
 * digest too. Each is refused with an error naming the host and what is wrong, before any stub
 * runs or any lock is taken: no stub, nothing in /proc/locks on the file, the group not frozen,
 * the catalog as it was.
 */
@TestInstance(TestInstance.Lifecycle.PER_CLASS)
class HostileManifestRestoreTest {
    private static final int DATA_FD = 500;

    private LocalCluster cluster;
    private CheckpointResult checkpoint;
    private Path data;
    private Path manifestPath;
    private byte[] original;
    private byte[] originalEntry;

    @BeforeAll
    void checkpointALockHolderAndKillIt() throws Exception {
        cluster = LocalCluster.start("h1");
        data = Files.createDirectories(cluster.dir().resolve("files")).resolve("data");
        int holder = cluster.run("h1", "app", LocalCluster.worker("fd", String.valueOf(DATA_FD), data.toString(),
                "lock", "posix", "write", String.valueOf(DATA_FD), "0", "100", "ready", "sleep"));
        cluster.awaitReady("h1", "app", holder);
        checkpoint = new CheckpointOperation(cluster.coordinator(), CheckpointOptions.defaults(), OperationListener.SILENT)
                .run("app");
        cluster.killApplications();
        await("the killed holder's lock is gone").atMost(Duration.ofSeconds(10))
                .until(() -> ProcLocksSnapshot.read().heldBy(holder).isEmpty());
        CheckpointStore store = cluster.coordinator().store();
        manifestPath = store.manifestPath("app", checkpoint.checkpointId(), "h1");
        original = Files.readAllBytes(manifestPath);
        originalEntry = zk().getData().forPath(entryPath());
    }

    @AfterEach
    void putTheCheckpointBack() throws Exception {
        Files.write(manifestPath, original);
        zk().setData().forPath(entryPath(), originalEntry);
        if (Files.isSymbolicLink(data)) {
            Files.move(data.resolveSibling("data.kept"), data, StandardCopyOption.ATOMIC_MOVE,
                    StandardCopyOption.REPLACE_EXISTING);
        }
        Invariants.assertAll(cluster);
    }

    @AfterAll
    void tearDown() throws Exception {
        if (cluster != null) {
            cluster.close();
        }
    }

    private CuratorFramework zk() throws Exception {
        return cluster.coordinator().zk();
    }

    private String entryPath() {
        return cluster.layout().checkpoint("app", checkpoint.checkpointId());
    }

    /** How a case damages the stored checkpoint, and what the restore must say. */
    record Case(String name, UnaryOperator<byte[]> damage, boolean catalogFollows, boolean allowRoot,
                FailureReason reason, boolean swapAfterValidation, String... message) {
        @Override
        public String toString() {
            return name;
        }
    }

    private static UnaryOperator<byte[]> manifest(UnaryOperator<Manifest.Builder> change) {
        return framed -> {
            try {
                return ManifestCodec.encode(change.apply(ManifestCodec.decode(framed).toBuilder()).build());
            } catch (Exception e) {
                throw new IllegalStateException(e);
            }
        };
    }

    /** Changes the recorded process's data fd and the lock held through it. */
    private static UnaryOperator<byte[]> dataFd(UnaryOperator<FdRecord.Builder> fd, UnaryOperator<LockRecord.Builder> lock) {
        return manifest(m -> {
            ProcessRecord.Builder p = m.getProcessesBuilder(0);
            for (FdRecord.Builder f : p.getFdsBuilderList()) {
                if (f.getFd() == DATA_FD) {
                    fd.apply(f);
                }
            }
            for (LockRecord.Builder l : p.getLocksBuilderList()) {
                lock.apply(l);
            }
            return m;
        });
    }

    private static byte[] reframed(byte[] framed, int formatVersion) {
        try {
            byte[] body = ManifestCodec.decode(framed).toByteArray();
            ByteArrayOutputStream out = new ByteArrayOutputStream();
            ManifestHeader.newBuilder().setMagic(ManifestCodec.MAGIC).setFormatVersion(formatVersion)
                    .setBodyLength(body.length).setBodySha256(ByteString.fromHex(ManifestCodec.sha256Hex(body)))
                    .build().writeDelimitedTo(out);
            out.write(body);
            return out.toByteArray();
        } catch (Exception e) {
            throw new IllegalStateException(e);
        }
    }

    private static byte[] flipped(byte[] framed) {
        byte[] copy = framed.clone();
        copy[copy.length - 5] ^= 0x10;
        return copy;
    }

    Stream<Case> cases() {
        FailureReason unusable = FailureReason.CHECKPOINT_UNUSABLE;
        FailureReason refused = FailureReason.VALIDATION_FAILED;
        return Stream.of(
                new Case("flipped bit, catalog digest untouched", HostileManifestRestoreTest::flipped, false, true,
                        unusable, false, "h1.manifest", "has sha256", "the catalog recorded"),
                new Case("flipped bit, catalog digest rewritten", HostileManifestRestoreTest::flipped, true, true,
                        unusable, false, "manifest of host h1", "body digest mismatch"),
                new Case("truncated, catalog rewritten", f -> Arrays.copyOf(f, f.length - 10), true, true,
                        unusable, false, "manifest of host h1", "truncated manifest"),
                new Case("format version 2", f -> reframed(f, 2), true, true,
                        unusable, false, "manifest of host h1", "unsupported manifest format version 2"),
                new Case("a million lock entries", manifest(m -> {
                    ProcessRecord.Builder p = m.getProcessesBuilder(0);
                    for (int i = 0; i < 1_000_001; i++) {
                        p.addLocks(LockRecord.getDefaultInstance());
                    }
                    return m;
                }), true, true, unusable, false, "manifest of host h1 refused before parsing",
                        "more than 1000000 lock entries"),
                new Case("fd 2^31-1", dataFd(f -> f.setFd(Integer.MAX_VALUE), l -> l.setFd(Integer.MAX_VALUE)), true, true,
                        refused, false, "host h1", "fd 2147483647", "fd number out of range"),
                new Case("negative lock range", dataFd(f -> f, l -> l.setStart(-5)), true, true,
                        refused, false, "host h1", "range -5-", "invalid range"),
                new Case("lock start after its end", dataFd(f -> f, l -> l.setStart(100).setEnd(5)), true, true,
                        refused, false, "host h1", "range 100-5", "invalid range"),
                new Case("path with ..", dataFd(f -> f.setPath(f.getPath().replace("/files/", "/files/../files/")), l -> l),
                        true, true, refused, false, "host h1", "fd " + DATA_FD, "contains '..'"),
                new Case("uid 0 without allow-root", f -> f, false, false,
                        refused, false, "host h1", "would run as uid 0", "allow-root"),
                new Case("a symbolic link swapped in between validate and stage", f -> f, false, true,
                        FailureReason.STAGE_FAILED, true, "h1", "fd " + DATA_FD, "is a symbolic link"));
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("cases")
    void aHostileManifestIsRefusedBeforeAnythingIsLockedOrStarted(Case hostile) throws Exception {
        byte[] damaged = hostile.damage().apply(original);
        Files.write(manifestPath, damaged);
        if (hostile.catalogFollows()) {
            CatalogEntry entry = ZkJson.parse(originalEntry, CatalogEntry.getDefaultInstance(), entryPath());
            CatalogEntry.Builder rewritten = entry.toBuilder();
            rewritten.getManifestsBuilder(0).setSha256(CheckpointStore.sha256Hex(damaged)).setSize(damaged.length);
            zk().setData().forPath(entryPath(), ZkJson.toBytes(rewritten.build()));
        }
        Catalog before = Catalog.of(this);
        List<String> phases = new ArrayList<>();
        OperationListener listener = new OperationListener() {
            @Override
            public void phaseStarted(String phase, int total) {
                phases.add(phase);
            }

            @Override
            public void phaseEnded(String phase, long micros) {
                if (phase.equals("validate") && hostile.swapAfterValidation()) {
                    swapDataForALink();
                }
            }
        };

        assertThatThrownBy(() -> new RestoreOperation(cluster.coordinator(),
                RestoreOptions.defaults().withAllowRoot(hostile.allowRoot()), listener).run("app"))
                .isInstanceOfSatisfying(OperationFailedException.class, e -> {
                    assertThat(e.reason()).as(e.getMessage()).isEqualTo(hostile.reason());
                    assertThat(e.getMessage()).contains(hostile.message());
                });

        if (hostile.reason() != FailureReason.STAGE_FAILED) {
            assertThat(phases).as("refused before any stub was started").doesNotContain("stage");
        }
        assertThat(Invariants.stubPids(cluster)).as("no stub").isEmpty();
        long inode = (Long) Files.getAttribute(data, "unix:ino", java.nio.file.LinkOption.NOFOLLOW_LINKS);
        long kept = Files.exists(data.resolveSibling("data.kept"))
                ? (Long) Files.getAttribute(data.resolveSibling("data.kept"), "unix:ino") : inode;
        assertThat(ProcLocksSnapshot.read().entries()).as("/proc/locks on the data file")
                .noneMatch(l -> l.inode() == inode || l.inode() == kept);
        assertThat(Invariants.frozenGroups(cluster)).as("frozen groups").isEmpty();
        assertThat(Catalog.of(this)).as("catalog").isEqualTo(before);
    }

    /** The agent's own limits: allow-root off (whatever the restore asks), allowed roots that exclude the files. */
    static Stream<Arguments> agentLimits() {
        return Stream.of(
                Arguments.of("an agent without allow-root", (UnaryOperator<AgentConfig>) c -> new AgentConfig(c.hostId(),
                        c.listen(), c.zkConnect(), c.zkRoot(), c.cgroupRoot(), c.backend(), c.stateDir(), c.sessionTimeout(),
                        false, c.networkFsTypes(), c.tls(), c.insecurePlaintext(), c.zkAuth(), c.allowedRoots(), c.socket(), c.socketGroup(), c.allowedClients()),
                        "would run as uid 0"),
                Arguments.of("an agent whose allowed roots exclude the files", (UnaryOperator<AgentConfig>) c ->
                        c.withAllowedRoots(new AllowedRoots(List.of(c.stateDir().resolve("elsewhere")))),
                        "outside the agent's allowed roots"));
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("agentLimits")
    void anAgentRefusesWhatItsOwnConfigurationForbidsEvenWhenTheRestoreAllowsIt(String description,
            UnaryOperator<AgentConfig> limit, String refusal) throws Exception {
        cluster.stopAgent("h1");
        try {
            cluster.startAgent("h1", limit);
            Catalog before = Catalog.of(this);

            assertThatThrownBy(() -> new RestoreOperation(cluster.coordinator(),
                    RestoreOptions.defaults().withAllowRoot(true), OperationListener.SILENT).run("app"))
                    .isInstanceOfSatisfying(OperationFailedException.class, e -> {
                        assertThat(e.reason()).as(e.getMessage()).isEqualTo(FailureReason.VALIDATION_FAILED);
                        assertThat(e.getMessage()).contains("host h1", refusal);
                    });

            assertThat(Invariants.stubPids(cluster)).as("no stub").isEmpty();
            assertThat(Catalog.of(this)).as("catalog").isEqualTo(before);
        } finally {
            cluster.stopAgent("h1");
            cluster.startAgent("h1");
        }
    }

    /** What a restore must never change: the group's checkpoints, their entries and latest. */
    record Catalog(List<String> ids, String entry, String latest) {
        static Catalog of(HostileManifestRestoreTest test) throws Exception {
            CuratorFramework zk = test.zk();
            var layout = test.cluster.layout();
            return new Catalog(zk.getChildren().forPath(layout.checkpoints("app")).stream().sorted().toList(),
                    new String(zk.getData().forPath(test.entryPath())), new String(zk.getData().forPath(layout.latest("app"))));
        }
    }

    private void swapDataForALink() {
        try {
            // A rename keeps the file itself (inode, mtime) for the next cases; the link takes its name.
            Path kept = data.resolveSibling("data.kept");
            Files.move(data, kept, StandardCopyOption.ATOMIC_MOVE);
            Files.createSymbolicLink(data, kept);
        } catch (IOException e) {
            throw new IllegalStateException(e);
        }
    }
}
