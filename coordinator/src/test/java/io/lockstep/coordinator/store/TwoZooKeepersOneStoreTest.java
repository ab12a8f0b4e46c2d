package io.lockstep.coordinator.store;

import io.lockstep.coordinator.catalog.Catalog;
import io.lockstep.coordinator.checkpoint.CheckpointOperation;
import io.lockstep.coordinator.checkpoint.CheckpointOptions;
import io.lockstep.coordinator.op.CheckpointResult;
import io.lockstep.coordinator.op.OperationListener;
import io.lockstep.coordinator.testing.LocalCluster;
import io.lockstep.proto.CatalogEntry;
import io.lockstep.proto.CatalogManifest;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Path;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * Checkpoint ids are unique beyond one ZooKeeper (`OpIds`): two deployments, each with its own
 * ZooKeeper server (as a second ensemble, or one reset and started afresh, would be), share one
 * store. Before (fe299fd) both named their first checkpoint ckpt-000001, and the second one failed
 * STORE_FAILED because the store refuses to overwrite.
 */
class TwoZooKeepersOneStoreTest {
    @TempDir
    Path dir;
    private LocalCluster first;
    private LocalCluster second;

    @AfterEach
    void tearDown() throws Exception {
        for (LocalCluster cluster : new LocalCluster[] {first, second}) {
            if (cluster != null) {
                cluster.close();
            }
        }
    }

    @Test
    void checkpointsOfTwoZooKeepersOnOneStoreCommitWithDistinctIdsAndNeitherOverwritesNorDeletesTheOther()
            throws Exception {
        Path shared = dir.resolve("store");
        first = LocalCluster.start("h1");
        first.useStore(new FileCheckpointStore(shared));
        second = LocalCluster.start("h1");
        second.useStore(new FileCheckpointStore(shared));
        first.runSleepers("app", "h1");
        second.runSleepers("app", "h1");

        CheckpointResult fromFirst = checkpoint(first);
        CheckpointResult fromSecond = checkpoint(second);

        assertThat(fromFirst.epoch()).as("both ZooKeepers' first epoch").isEqualTo(fromSecond.epoch()).isEqualTo(1);
        assertThat(fromSecond.checkpointId()).as("the second ZooKeeper's checkpoint id")
                .isNotEqualTo(fromFirst.checkpointId());
        assertManifestsVerify(first, fromFirst.catalogEntry());
        assertManifestsVerify(second, fromSecond.catalogEntry());

        // The first deployment's retention keeps one checkpoint: it deletes its own older one and
        // leaves the second deployment's checkpoint, which its ZooKeeper never recorded, alone.
        CheckpointResult newer = checkpoint(first);
        Catalog.Retention retention = new Catalog(first.coordinator()).retain("app", 1);

        assertThat(retention.deletedCheckpoints()).containsExactly(fromFirst.checkpointId());
        assertThat(retention.removedLeftovers()).isEmpty();
        assertThat(new Catalog(first.coordinator()).latestId("app")).contains(newer.checkpointId());
        assertThat(new Catalog(second.coordinator()).latestId("app")).contains(fromSecond.checkpointId());
        assertManifestsVerify(second, fromSecond.catalogEntry());
        assertManifestsVerify(first, newer.catalogEntry());
    }

    private static CheckpointResult checkpoint(LocalCluster cluster) throws Exception {
        return new CheckpointOperation(cluster.coordinator(), CheckpointOptions.defaults(), OperationListener.SILENT)
                .run("app");
    }

    private static void assertManifestsVerify(LocalCluster cluster, CatalogEntry entry) throws Exception {
        assertThat(entry.getManifestsList()).as("manifests of " + entry.getCheckpointId()).isNotEmpty();
        for (CatalogManifest manifest : entry.getManifestsList()) {
            assertThat(cluster.coordinator().store().readVerified(entry.getGroup(), entry.getCheckpointId(),
                    manifest.getHostId(), manifest.getSha256(), manifest.getSize()))
                    .as("manifest of " + manifest.getHostId() + " for " + entry.getCheckpointId()).isNotEmpty();
        }
    }
}
