package io.lockstep.coordinator.snapshot;

import io.lockstep.coordinator.catalog.Catalog;
import io.lockstep.coordinator.op.CheckpointResult;
import io.lockstep.coordinator.testing.Invariants;
import io.lockstep.coordinator.testing.LocalCluster;
import io.lockstep.manifest.ManifestCodec;
import io.lockstep.proto.CatalogManifest;
import io.lockstep.proto.DataPathRecord;
import io.lockstep.proto.SnapshotDeletion;
import io.lockstep.proto.SnapshotFileRecord;
import io.lockstep.proto.SnapshotRecord;
import io.lockstep.zk.DataPaths;
import io.lockstep.zk.SnapshotDeletions;
import io.lockstep.zk.ZkJson;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.security.MessageDigest;
import java.time.Duration;
import java.util.HexFormat;
import java.util.List;
import java.util.Set;
import java.util.TreeSet;
import java.util.stream.Collectors;
import java.util.stream.Stream;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

/**
 * Retention of snapshots (issue 15), with real agents and real engines: deleting a checkpoint (by id or with
 * --keep) deletes its snapshots on the host that took them — a copy snapshot's content stays while another
 * checkpoint shares it, a reflink snapshot on XFS (reflink=1, on a loop device) goes with its directory. A host
 * that is down at delete time keeps its snapshots recorded, is named with where they are, and deletes them when
 * its agent comes back. A checkpoint still in the catalog keeps its snapshots whatever a deletion record says.
 */
class SnapshotRetentionTest {
    private LocalCluster cluster;

    @AfterEach
    void tearDown() throws Exception {
        if (cluster != null) {
            cluster.close();
        }
    }

    private SnapshotRecord snapshotOf(CheckpointResult checkpoint, String group) throws Exception {
        CatalogManifest stored = checkpoint.catalogEntry().getManifests(0);
        return ManifestCodec.decode(cluster.coordinator().store().readVerified(group, checkpoint.checkpointId(),
                stored.getHostId(), stored.getSha256(), stored.getSize())).getSnapshots(0);
    }

    /** A declared copy data path, a sleeper in the group, two checkpoints with one file changed between them. */
    private List<CheckpointResult> twoCopyCheckpoints(String group, Path data) throws Exception {
        Files.createDirectories(data.resolve("sub"));
        Files.writeString(data.resolve("app.log"), "first line\n");
        Files.write(data.resolve("state.db"), new byte[32 * 1024]);
        Files.writeString(data.resolve("sub/notes.txt"), "kept by both checkpoints\n");
        new DataPaths(cluster.coordinator().zk(), cluster.layout()).put(group,
                DataPathRecord.newBuilder().setPath(data.toString()).setEngine("copy").build());
        cluster.runSleepers(group, "h1");
        CheckpointResult first = cluster.checkpoint(group);
        Files.writeString(data.resolve("app.log"), "second line\n", StandardOpenOption.APPEND);
        CheckpointResult second = cluster.checkpoint(group);
        return List.of(first, second);
    }

    private Path copyStore() {
        return cluster.agentConfig("h1").stateDir().resolve("snapshots");
    }

    private Set<String> names(Path dir) throws Exception {
        try (Stream<Path> list = Files.list(dir)) {
            return list.map(p -> p.getFileName().toString()).collect(Collectors.toCollection(TreeSet::new));
        }
    }

    private static Set<String> digestsOf(SnapshotRecord snapshot) {
        return snapshot.getFilesList().stream().map(SnapshotFileRecord::getSha256).collect(Collectors.toCollection(TreeSet::new));
    }

    private static String sha256(byte[] bytes) throws Exception {
        return HexFormat.of().formatHex(MessageDigest.getInstance("SHA-256").digest(bytes));
    }

    /** A copy snapshot's index lines: sha256, size, mtime, ctime, inode, mode, pack, offset, path. */
    private static List<String[]> indexEntries(SnapshotRecord snapshot) throws Exception {
        return Files.readAllLines(Path.of(snapshot.getLocation())).stream().map(line -> line.split("\t", 9))
                .filter(fields -> fields.length == 9).toList();
    }

    /** The sha256 of each of the snapshot's files as the store holds it, read from the pack where its index says. */
    private Set<String> storedDigests(SnapshotRecord snapshot) throws Exception {
        Set<String> digests = new TreeSet<>();
        for (String[] entry : indexEntries(snapshot)) {
            byte[] pack = Files.readAllBytes(copyStore().resolve("packs").resolve(entry[6]));
            int offset = Integer.parseInt(entry[7]);
            digests.add(sha256(java.util.Arrays.copyOfRange(pack, offset, offset + Integer.parseInt(entry[1]))));
        }
        return digests;
    }

    /** The store keeps exactly the packs the snapshot's index names, and they hold its content. */
    private void assertOnlyItsContentLeft(SnapshotRecord snapshot) throws Exception {
        assertThat(storedDigests(snapshot)).as("the kept checkpoint's content, read from the store").isEqualTo(digestsOf(snapshot));
        assertThat(names(copyStore().resolve("packs"))).as("packs left: those the kept checkpoint's index names")
                .isEqualTo(indexEntries(snapshot).stream().map(entry -> entry[6]).collect(Collectors.toCollection(TreeSet::new)));
    }

    private List<SnapshotDeletions.Pending> pending(String group) throws Exception {
        return new SnapshotDeletions(cluster.coordinator().zk(), cluster.layout()).list(group);
    }

    @Test
    void deletingACheckpointDeletesItsCopySnapshotAndKeepsTheContentTheOtherCheckpointShares() throws Exception {
        cluster = LocalCluster.start("h1");
        List<CheckpointResult> checkpoints = twoCopyCheckpoints("ret", cluster.dir().resolve("data"));
        SnapshotRecord first = snapshotOf(checkpoints.get(0), "ret");
        SnapshotRecord second = snapshotOf(checkpoints.get(1), "ret");
        assertThat(digestsOf(first)).as("the first checkpoint has a version of app.log the second has not")
                .isNotEqualTo(digestsOf(second));

        Catalog.Deleted deleted = new Catalog(cluster.coordinator()).delete("ret", checkpoints.get(0).checkpointId());

        assertThat(deleted.snapshots().deleted()).containsExactly("checkpoint " + checkpoints.get(0).checkpointId()
                + " on host h1: " + first.getLocation());
        assertThat(deleted.snapshots().left()).isEmpty();
        assertThat(Path.of(first.getLocation())).doesNotExist();
        assertThat(names(copyStore().resolve("index"))).containsExactly(Path.of(second.getLocation()).getFileName().toString());
        assertOnlyItsContentLeft(second);
        assertThat(pending("ret")).as("deletion records left in ZooKeeper").isEmpty();
        Invariants.assertAll(cluster);
    }

    @Test
    void retentionDeletesTheReflinkSnapshotOfTheCheckpointItDropsOnXfs() throws Exception {
        cluster = LocalCluster.start("h1");
        Path mount = Files.createDirectories(cluster.dir().resolve("xfs"));
        try (LoopMount xfs = LoopMount.make(cluster.dir().resolve("xfs.img"), mount, "mkfs.xfs", "-q", "-m", "reflink=1")) {
            Path data = Files.createDirectories(mount.resolve("data"));
            Files.writeString(data.resolve("app.log"), "first line\n");
            new DataPaths(cluster.coordinator().zk(), cluster.layout()).put("xret",
                    DataPathRecord.newBuilder().setPath(data.toString()).build());
            cluster.runSleepers("xret", "h1");
            CheckpointResult first = cluster.checkpoint("xret");
            Files.writeString(data.resolve("app.log"), "second line\n", StandardOpenOption.APPEND);
            CheckpointResult second = cluster.checkpoint("xret");
            assertThat(snapshotOf(first, "xret").getEngine()).isEqualTo("reflink");
            Path snapshots = mount.resolve(".lockstep-snapshots");
            assertThat(names(snapshots)).contains(first.checkpointId(), second.checkpointId());

            Catalog.Retention retention = new Catalog(cluster.coordinator()).retain("xret", 1);

            assertThat(retention.deletedCheckpoints()).containsExactly(first.checkpointId());
            assertThat(retention.snapshots().deleted()).hasSize(1).allSatisfy(line -> assertThat(line)
                    .startsWith("checkpoint " + first.checkpointId() + " on host h1: " + snapshots.resolve(first.checkpointId())));
            assertThat(names(snapshots)).doesNotContain(first.checkpointId()).contains(second.checkpointId());
            assertThat(Files.readString(Path.of(snapshotOf(second, "xret").getLocation()).resolve("app.log")))
                    .as("the kept checkpoint's clone").isEqualTo("first line\nsecond line\n");
            cluster.killApplications();
        }
        Invariants.assertAll(cluster);
    }

    @Test
    void aHostDownAtDeleteTimeIsNamedWithItsSnapshotsWhichItDeletesWhenItsAgentStartsAgain() throws Exception {
        cluster = LocalCluster.start("h1");
        List<CheckpointResult> checkpoints = twoCopyCheckpoints("down", cluster.dir().resolve("data"));
        String firstId = checkpoints.get(0).checkpointId();
        Path firstIndex = Path.of(snapshotOf(checkpoints.get(0), "down").getLocation());
        cluster.stopAgent("h1");
        await("h1 is unregistered").atMost(Duration.ofSeconds(10))
                .until(() -> cluster.coordinator().directory().host("h1").isEmpty());

        Catalog.Retention retention = new Catalog(cluster.coordinator()).retain("down", 1);

        assertThat(retention.deletedCheckpoints()).containsExactly(firstId);
        assertThat(retention.snapshots().deleted()).isEmpty();
        assertThat(retention.snapshots().left()).singleElement().asString()
                .startsWith("checkpoint " + firstId + " on host h1: " + firstIndex + " not deleted: host h1 is not registered")
                .contains("recorded at " + cluster.layout().snapshotDeletion("down", firstId, "h1"))
                .contains("retried by the next delete or retention of group down");
        assertThat(firstIndex).as("the snapshot stays while its host is down").exists();
        assertThat(pending("down")).containsExactly(new SnapshotDeletions.Pending("down", firstId, "h1"));

        cluster.startAgent("h1");

        await("h1 deleted the recorded snapshot when it started").atMost(Duration.ofSeconds(20))
                .until(() -> !Files.exists(firstIndex) && pending("down").isEmpty());
        SnapshotRecord second = snapshotOf(checkpoints.get(1), "down");
        assertThat(Path.of(second.getLocation())).exists();
        assertOnlyItsContentLeft(second);
        Invariants.assertAll(cluster);
    }

    @Test
    void aDeletionRecordForACheckpointStillInTheCatalogIsRefusedAndItsSnapshotStays() throws Exception {
        cluster = LocalCluster.start("h1");
        List<CheckpointResult> checkpoints = twoCopyCheckpoints("kept", cluster.dir().resolve("data"));
        String committed = checkpoints.get(1).checkpointId();
        SnapshotRecord snapshot = snapshotOf(checkpoints.get(1), "kept");
        SnapshotDeletions deletions = new SnapshotDeletions(cluster.coordinator().zk(), cluster.layout());
        deletions.ensureParent("kept");
        cluster.coordinator().zk().create().forPath(cluster.layout().snapshotDeletions("kept", committed));
        cluster.coordinator().zk().create().forPath(cluster.layout().snapshotDeletion("kept", committed, "h1"),
                ZkJson.toBytes(SnapshotDeletions.of(committed, "h1", List.of(snapshot), 0)));

        Catalog.Retention retention = new Catalog(cluster.coordinator()).retain("kept", 5);

        assertThat(retention.deletedCheckpoints()).isEmpty();
        assertThat(retention.snapshots().left()).singleElement().asString()
                .contains("checkpoint " + committed + " of group kept: the checkpoint is still in the catalog");
        assertThat(Path.of(snapshot.getLocation())).exists();
        assertThat(storedDigests(snapshot)).as("the kept snapshot's content in the store").isEqualTo(digestsOf(snapshot));
        Invariants.assertAll(cluster);
    }

    @Test
    void aDeletionRecordThatPointsOutsideTheCheckpointsSnapshotsIsRefused() throws Exception {
        cluster = LocalCluster.start("h1");
        cluster.runSleepers("forged", "h1");
        Path victim = Files.createDirectories(cluster.dir().resolve("not-a-snapshot"));
        Files.writeString(victim.resolve("precious"), "must stay\n");
        SnapshotDeletions deletions = new SnapshotDeletions(cluster.coordinator().zk(), cluster.layout());
        deletions.ensureParent("forged");
        SnapshotDeletion forged = SnapshotDeletions.of("ckpt-gone", "h1", List.of(SnapshotRecord.newBuilder()
                .setEngine("reflink").setDataPath(victim.toString()).setLocation(victim.toString()).build()), 0);
        cluster.coordinator().zk().create().forPath(cluster.layout().snapshotDeletions("forged", "ckpt-gone"));
        cluster.coordinator().zk().create().forPath(cluster.layout().snapshotDeletion("forged", "ckpt-gone", "h1"),
                ZkJson.toBytes(forged));

        Catalog.Retention retention = new Catalog(cluster.coordinator()).retain("forged", 1);

        assertThat(retention.snapshots().left()).singleElement().asString()
                .contains("refusing to delete reflink snapshot location '" + victim + "'")
                .contains("it is not a snapshot of checkpoint ckpt-gone");
        assertThat(victim.resolve("precious")).hasContent("must stay");
        assertThat(pending("forged")).hasSize(1);
    }
}
