package io.lockstep.coordinator.checkpoint;

import io.lockstep.coordinator.catalog.Catalog;
import io.lockstep.coordinator.op.CheckpointResult;
import io.lockstep.coordinator.op.FailureReason;
import io.lockstep.coordinator.op.OperationFailedException;
import io.lockstep.coordinator.op.OperationListener;
import io.lockstep.coordinator.testing.CuttingRelay;
import io.lockstep.coordinator.testing.Invariants;
import io.lockstep.coordinator.testing.LocalCluster;
import io.lockstep.coordinator.testing.S3ProxyServer;
import io.lockstep.manifest.ManifestCodec;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;
import software.amazon.awssdk.services.s3.S3Client;
import software.amazon.awssdk.services.s3.model.S3Object;

import java.net.URI;
import java.nio.file.Path;
import java.util.List;
import java.util.UUID;
import java.util.concurrent.TimeUnit;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

/**
 * Checkpoints into an s3: store on a real S3-compatible server (S3Proxy, filesystem backend):
 * committed, the server stopped in the middle of a manifest's PUT, and an error answer.
 */
@Timeout(value = 6, unit = TimeUnit.MINUTES, threadMode = Timeout.ThreadMode.SEPARATE_THREAD)
class S3StoreCheckpointTest {
    /** One server for the class (a JVM start is seconds of CPU); every case has buckets of its own. */
    @TempDir
    static Path serverDir;
    private static S3ProxyServer server;
    private LocalCluster cluster;
    private CuttingRelay relay;

    @BeforeAll
    static void startServer() throws Exception {
        server = S3ProxyServer.start(serverDir);
    }

    @AfterAll
    static void stopServer() throws Exception {
        if (server != null) {
            server.close();
        }
    }

    @AfterEach
    void tearDown() throws Exception {
        try {
            if (relay != null) {
                relay.close();
            }
            // A case that killed the server and failed before its restart must not fail the next one.
            if (!server.running()) {
                server.restart();
            }
        } finally {
            if (cluster != null) {
                cluster.close();
            }
        }
    }

    private void startCluster() throws Exception {
        cluster = LocalCluster.start("h1", "h2");
    }

    /** After {@link LocalCluster#useStore}: starting processes makes the cluster's coordinator. */
    private void startApplication() throws Exception {
        for (String host : List.of("h1", "h2")) {
            int pid = cluster.run(host, "app", LocalCluster.worker("ready", "sleep"));
            cluster.awaitReady(host, "app", pid);
        }
    }

    private static String unique(String what) {
        return what + "-" + UUID.randomUUID().toString().substring(0, 8);
    }

    private CheckpointResult checkpoint() throws Exception {
        return new CheckpointOperation(cluster.coordinator(), CheckpointOptions.defaults(), OperationListener.SILENT).run("app");
    }

    @Test
    void aCheckpointCommitsItsManifestsToTheObjectStoreAndTheyVerify() throws Exception {
        startCluster();
        String bucket = server.createBucket(unique("ckpt"));
        cluster.useStore(S3ProxyServer.store(bucket, "deploy/one", server.endpoint()));
        startApplication();

        CheckpointResult result = checkpoint();

        assertThat(result.hosts()).containsExactlyInAnyOrder("h1", "h2");
        assertThat(new Catalog(cluster.coordinator()).get("app", result.checkpointId()).orElseThrow().getManifestsList())
                .allSatisfy(manifest -> assertThat(manifest.getUri()).isEqualTo("s3://" + bucket + "/deploy/one/app/"
                        + result.checkpointId() + "/" + manifest.getHostId() + ".manifest"));
        Invariants.assertAll(cluster);
    }

    @Test
    void theServerStoppedInTheMiddleOfAWriteAbortsTheCheckpointWithNothingCommittedOrHalfPublished() throws Exception {
        startCluster();
        String bucket = server.createBucket(unique("cut"));
        relay = CuttingRelay.start(server.port(), "PUT /" + bucket + "/deploy/app/", () -> {
            try {
                server.kill();
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
        });
        cluster.useStore(S3ProxyServer.store(bucket, "deploy", URI.create("http://127.0.0.1:" + relay.port())));
        startApplication();
        relay.arm();

        assertThatThrownBy(this::checkpoint).isInstanceOfSatisfying(OperationFailedException.class, e -> {
            assertThat(e.reason()).isEqualTo(FailureReason.STORE_FAILED);
            assertThat(e.getMessage()).containsPattern("cannot write manifest of host h[12] to s3://" + bucket
                    + "/deploy/app/ckpt-[0-9TZ]+-\\d+-[0-9a-f]+/h[12]\\.manifest");
        });
        assertThat(relay.hasCut()).as("the server was stopped during a manifest's PUT").isTrue();
        assertThat(new Catalog(cluster.coordinator()).list("app")).as("nothing committed").isEmpty();
        assertThat(Invariants.decisions(cluster, "app")).singleElement().matches(decision -> !decision.isCommit());
        Invariants.assertNothingFrozen(cluster);

        server.restart();
        try (S3Client s3 = server.client()) {
            List<S3Object> left = s3.listObjectsV2Paginator(list -> list.bucket(bucket).prefix("deploy/")).contents()
                    .stream().toList();
            // A manifest the other host published before the cut may be left (an aborted leftover
            // that retention removes); a cut one must not be there at all, not even in part.
            for (S3Object object : left) {
                byte[] bytes = s3.getObjectAsBytes(get -> get.bucket(bucket).key(object.key())).asByteArray();
                assertThat(ManifestCodec.decode(bytes)).as(object.key() + " is a whole manifest").isNotNull();
            }
            assertThat(left).as("at most the other host's manifest").hasSizeLessThan(2);
        }
    }

    @Test
    void anErrorAnswerAbortsTheCheckpointNamingTheObjectAndTheServersWords() throws Exception {
        startCluster();
        String missingBucket = unique("never-created");
        cluster.useStore(S3ProxyServer.store(missingBucket, "deploy", server.endpoint()));
        startApplication();

        assertThatThrownBy(this::checkpoint).isInstanceOfSatisfying(OperationFailedException.class, e -> {
            assertThat(e.reason()).isEqualTo(FailureReason.STORE_FAILED);
            assertThat(e.getMessage()).containsPattern("cannot write manifest of host h[12] to s3://" + missingBucket
                    + "/deploy/app/ckpt-[0-9TZ]+-\\d+-[0-9a-f]+/h[12]\\.manifest: HTTP 404 NoSuchBucket");
        });
        assertThat(new Catalog(cluster.coordinator()).list("app")).isEmpty();
        assertThat(Invariants.decisions(cluster, "app")).singleElement().matches(decision -> !decision.isCommit());
        Invariants.assertNothingFrozen(cluster);
    }
}
