package io.lockstep.coordinator.catalog;

import io.lockstep.coordinator.op.CoordinatorContext;
import io.lockstep.coordinator.op.FailureReason;
import io.lockstep.coordinator.op.OperationFailedException;
import io.lockstep.coordinator.store.FileCheckpointStore;
import io.lockstep.coordinator.testing.TestCheckpoints;
import io.lockstep.zk.testing.ZkTestRoot;
import io.lockstep.proto.CatalogEntry;
import io.lockstep.proto.LockHolder;
import io.lockstep.zk.Decision;
import io.lockstep.zk.Decisions;
import io.lockstep.zk.ZkJson;
import org.apache.zookeeper.CreateMode;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Clock;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

class CatalogTest {

    @TempDir
    Path storeDir;

    @RegisterExtension
    final ZkTestRoot root = new ZkTestRoot();
    private FileCheckpointStore store;
    private TestCheckpoints checkpoints;
    private Catalog catalog;

    @BeforeEach
    void setUp() throws Exception {
        store = new FileCheckpointStore(storeDir);
        checkpoints = new TestCheckpoints(root.zk(), root.layout(), store);
        catalog = new Catalog(CoordinatorContext.create(root.zk(), root.layout(), store, Clock.systemUTC()));
    }

    @Test
    void listsCheckpointsByEpochNotByName() throws Exception {
        checkpoints.commit("web", "zz-first", 1, "a");
        checkpoints.commit("web", "aa-second", 2, "a", "b");

        assertThat(catalog.list("web")).extracting(CatalogEntry::getCheckpointId).containsExactly("zz-first", "aa-second");
        assertThat(catalog.list("empty")).isEmpty();
    }

    @Test
    void resolvesLatestAndIdsAndNamesTheKnownIdsWhenUnknown() throws Exception {
        checkpoints.commit("web", "ckpt-000001", 1, "a");
        checkpoints.commit("web", "ckpt-000002", 2, "a");

        assertThat(catalog.resolve("web", "latest").getCheckpointId()).isEqualTo("ckpt-000002");
        assertThat(catalog.resolve("web", "ckpt-000001").getEpoch()).isEqualTo(1);
        assertThatThrownBy(() -> catalog.resolve("web", "ckpt-000009"))
                .isInstanceOfSatisfying(OperationFailedException.class,
                        e -> assertThat(e.reason()).isEqualTo(FailureReason.CHECKPOINT_UNUSABLE))
                .hasMessageContaining("ckpt-000009").hasMessageContaining("known: ckpt-000001, ckpt-000002");
        assertThatThrownBy(() -> catalog.resolve("other", "latest"))
                .hasMessageContaining("group other has no committed checkpoint");
    }

    @Test
    void findsAnIdAcrossGroupsAndRefusesToGuessWhenAmbiguous() throws Exception {
        checkpoints.commit("web", "ckpt-000001", 1, "a");
        checkpoints.commit("db", "ckpt-000002", 2, "a");
        checkpoints.commit("db", "ckpt-000001", 1, "a");

        assertThat(catalog.find("ckpt-000002").getGroup()).isEqualTo("db");
        assertThatThrownBy(() -> catalog.find("ckpt-000001"))
                .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("db, web").hasMessageContaining("--group");
        assertThatThrownBy(() -> catalog.find("ckpt-000007"))
                .isInstanceOfSatisfying(OperationFailedException.class,
                        e -> assertThat(e.reason()).isEqualTo(FailureReason.CHECKPOINT_UNUSABLE));
    }

    @Test
    void deletingAnOlderCheckpointLeavesLatestAlone() throws Exception {
        checkpoints.commit("web", "ckpt-000001", 1, "a");
        checkpoints.commit("web", "ckpt-000002", 2, "a");

        catalog.delete("web", "ckpt-000001");

        assertThat(catalog.list("web")).extracting(CatalogEntry::getCheckpointId).containsExactly("ckpt-000002");
        assertThat(catalog.latestId("web")).contains("ckpt-000002");
        assertThat(store.checkpointDir("web", "ckpt-000001")).doesNotExist();
        assertThat(store.checkpointDir("web", "ckpt-000002")).isDirectory();
    }

    @Test
    void deletingLatestMovesItToThePreviousOneAndDeletingTheLastRemovesIt() throws Exception {
        checkpoints.commit("web", "ckpt-000001", 1, "a");
        checkpoints.commit("web", "ckpt-000002", 2, "a");

        catalog.delete("web", "latest");
        assertThat(catalog.latestId("web")).contains("ckpt-000001");

        catalog.delete("web", "ckpt-000001");
        assertThat(catalog.latestId("web")).isEmpty();
        assertThat(catalog.list("web")).isEmpty();
        assertThat(store.checkpointDir("web", "ckpt-000001")).doesNotExist();
    }

    @Test
    void deletingAnUnknownCheckpointFailsAndChangesNothing() throws Exception {
        checkpoints.commit("web", "ckpt-000001", 1, "a");

        assertThatThrownBy(() -> catalog.delete("web", "ckpt-000005"))
                .isInstanceOf(OperationFailedException.class).hasMessageContaining("known: ckpt-000001");
        assertThat(catalog.list("web")).hasSize(1);
    }

    @Test
    void deleteAndRetainRefuseWhileAnOperationHoldsTheGroup() throws Exception {
        checkpoints.commit("web", "ckpt-000001", 1, "a");
        root.zk().create().withMode(CreateMode.EPHEMERAL).forPath(root.layout().lock("web"),
                ZkJson.toBytes(LockHolder.newBuilder().setOpId("ckpt-000002").setCoordinatorId("other").build()));

        assertThatThrownBy(() -> catalog.delete("web", "ckpt-000001"))
                .isInstanceOfSatisfying(OperationFailedException.class,
                        e -> assertThat(e.reason()).isEqualTo(FailureReason.GROUP_BUSY))
                .hasMessageContaining("ckpt-000002");
        assertThatThrownBy(() -> catalog.retain("web", 0)).isInstanceOf(OperationFailedException.class);
        assertThat(catalog.list("web")).hasSize(1);
    }

    @Test
    void retainKeepsTheNewestAndRemovesTheOthersWithTheirOpRecords() throws Exception {
        for (int epoch = 1; epoch <= 4; epoch++) {
            checkpoints.commit("web", "ckpt-00000" + epoch, epoch, "a", "b");
        }

        Catalog.Retention retention = catalog.retain("web", 2);

        assertThat(retention.deletedCheckpoints()).containsExactly("ckpt-000001", "ckpt-000002");
        assertThat(retention.removedOpRecords()).containsExactly("ckpt-000001", "ckpt-000002");
        assertThat(catalog.list("web")).extracting(CatalogEntry::getCheckpointId).containsExactly("ckpt-000003", "ckpt-000004");
        assertThat(store.checkpointDir("web", "ckpt-000001")).doesNotExist();
        assertThat(store.checkpointDir("web", "ckpt-000003")).isDirectory();
        assertThat(root.zk().checkExists().forPath(root.layout().op("web", "ckpt-000001"))).isNull();
        assertThat(root.zk().checkExists().forPath(root.layout().op("web", "ckpt-000003"))).isNotNull();
    }

    @Test
    void retainKeepsAndReportsCheckpointsWhoseManifestsAreNotInTheStoreAndDoesNotCountThem() throws Exception {
        for (int epoch = 1; epoch <= 4; epoch++) {
            checkpoints.commit("web", "ckpt-00000" + epoch, epoch, "a", "b");
        }
        // As seen by a coordinator whose store never had them: the newest two are not in it.
        Files.delete(store.manifestPath("web", "ckpt-000003", "b"));
        Files.delete(store.manifestPath("web", "ckpt-000004", "a"));

        Catalog.Retention retention = catalog.retain("web", 1);

        assertThat(retention.unreadable()).satisfiesExactly(
                problem -> assertThat(problem).startsWith("ckpt-000003: manifest of host b is not in the store")
                        .contains(store.manifestUri("web", "ckpt-000003", "b")),
                problem -> assertThat(problem).startsWith("ckpt-000004: manifest of host a is not in the store"));
        assertThat(retention.deletedCheckpoints()).containsExactly("ckpt-000001");
        assertThat(catalog.list("web")).extracting(CatalogEntry::getCheckpointId)
                .containsExactly("ckpt-000002", "ckpt-000003", "ckpt-000004");
    }

    @Test
    void retainNeverDeletesTheCheckpointLatestPointsTo() throws Exception {
        checkpoints.commit("web", "ckpt-000001", 1, "a");
        checkpoints.commit("web", "ckpt-000002", 2, "a");
        root.zk().setData().forPath(root.layout().latest("web"), "ckpt-000001".getBytes());

        catalog.retain("web", 0);

        assertThat(catalog.list("web")).extracting(CatalogEntry::getCheckpointId).containsExactly("ckpt-000001");
        assertThat(catalog.latestId("web")).contains("ckpt-000001");
    }

    @Test
    void retainRemovesAbortedAndOrphanedLeftoversButNotARunningOperationNorAnotherDeployments() throws Exception {
        checkpoints.abortedLeftover("web", "ckpt-000001", 1, "a");
        checkpoints.commit("web", "ckpt-000002", 2, "a");
        checkpoints.orphan("web", "ckpt-000003", 3, "a");
        checkpoints.running("web", "ckpt-000004", 4, "a");
        Files.createDirectories(store.checkpointDir("web", "stray-dir"));

        Catalog.Retention retention = catalog.retain("web", 5);

        assertThat(retention.deletedCheckpoints()).isEmpty();
        assertThat(retention.removedLeftovers()).containsExactly("ckpt-000001", "ckpt-000003");
        assertThat(store.checkpointDir("web", "stray-dir")).as("an op this ZooKeeper never recorded: another deployment's")
                .isDirectory();
        assertThat(store.checkpointDir("web", "ckpt-000001")).doesNotExist();
        assertThat(store.checkpointDir("web", "ckpt-000003")).doesNotExist();
        assertThat(store.checkpointDir("web", "ckpt-000004")).isDirectory();
        assertThat(store.checkpointDir("web", "ckpt-000002")).isDirectory();
        // The orphan was decided ABORT before its manifests went: it can never commit afterwards.
        assertThat(new Decisions(root.zk(), root.layout()).read("web", "ckpt-000003"))
                .hasValueSatisfying(decision -> assertThat(decision.isCommit()).isFalse());
        // The ABORT older than every kept checkpoint is gone; the newer one stays for agents that may still look.
        assertThat(retention.removedOpRecords()).containsExactly("ckpt-000001");
        assertThat(root.zk().checkExists().forPath(root.layout().op("web", "ckpt-000003"))).isNotNull();
    }

    @Test
    void retainWithNoCheckpointsKeepsAbortRecords() throws Exception {
        checkpoints.abortedLeftover("web", "ckpt-000001", 1, "a");

        Catalog.Retention retention = catalog.retain("web", 1);

        assertThat(retention.removedLeftovers()).containsExactly("ckpt-000001");
        assertThat(retention.removedOpRecords()).isEmpty();
        assertThat(new Decisions(root.zk(), root.layout()).read("web", "ckpt-000001")).contains(Decision.abort("freeze failed"));
    }
}
