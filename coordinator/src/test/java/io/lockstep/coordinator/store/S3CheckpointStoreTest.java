package io.lockstep.coordinator.store;

import io.lockstep.coordinator.testing.S3ProxyServer;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.FileAlreadyExistsException;
import java.nio.file.Path;
import java.util.UUID;
import java.util.concurrent.TimeUnit;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

/** The s3: store against a real S3-compatible server (S3Proxy, filesystem backend). */
@Timeout(value = 5, unit = TimeUnit.MINUTES, threadMode = Timeout.ThreadMode.SEPARATE_THREAD)
class S3CheckpointStoreTest {
    @TempDir
    static Path dir;
    private static S3ProxyServer server;
    private static String bucket;

    @BeforeAll
    static void startServer() throws Exception {
        server = S3ProxyServer.start(dir);
        bucket = server.createBucket("store-test-" + UUID.randomUUID().toString().substring(0, 8));
    }

    @AfterAll
    static void stopServer() throws Exception {
        if (server != null) {
            server.close();
        }
    }

    private static S3CheckpointStore store(String prefix) {
        return S3ProxyServer.store(bucket, prefix, server.endpoint());
    }

    private static String prefix() {
        return "deploy-" + UUID.randomUUID().toString().substring(0, 8);
    }

    @Test
    void aWrittenManifestReadsBackVerifiedAndIsListedAndDeleted() throws Exception {
        String prefix = prefix();
        byte[] bytes = "manifest bytes".getBytes(StandardCharsets.UTF_8);
        try (S3CheckpointStore store = store(prefix)) {
            CheckpointStore.StoredManifest stored = store.write("web", "ckpt-000001", "h1", bytes);

            assertThat(stored.uri()).isEqualTo("s3://" + bucket + "/" + prefix + "/web/ckpt-000001/h1.manifest");
            assertThat(stored.sha256()).isEqualTo(CheckpointStore.sha256Hex(bytes));
            assertThat(store.readVerified("web", "ckpt-000001", "h1", stored.sha256(), bytes.length)).isEqualTo(bytes);
            assertThat(store.exists("web", "ckpt-000001", "h1", bytes.length)).isTrue();
            assertThat(store.exists("web", "ckpt-000001", "h2", bytes.length)).isFalse();
            assertThat(store.checkpointIds("web")).containsExactly("ckpt-000001");

            store.delete("web", "ckpt-000001");
            assertThat(store.checkpointIds("web")).isEmpty();
            assertThatThrownBy(() -> store.readVerified("web", "ckpt-000001", "h1", stored.sha256(), bytes.length))
                    .isInstanceOf(StoreCorruptionException.class)
                    .hasMessageContaining("is missing from the store: " + stored.uri());
        }
    }

    @Test
    void aManifestIsNeverOverwritten() throws Exception {
        try (S3CheckpointStore store = store(prefix())) {
            byte[] first = "first".getBytes(StandardCharsets.UTF_8);
            CheckpointStore.StoredManifest stored = store.write("web", "ckpt-000002", "h1", first);

            assertThatThrownBy(() -> store.write("web", "ckpt-000002", "h1", "second".getBytes(StandardCharsets.UTF_8)))
                    .isInstanceOf(FileAlreadyExistsException.class)
                    .hasMessageContaining(stored.uri());
            assertThat(store.readVerified("web", "ckpt-000002", "h1", stored.sha256(), first.length)).isEqualTo(first);
        }
    }

    @Test
    void aManifestThatDiffersFromTheCatalogIsRefusedNamingTheObject() throws Exception {
        try (S3CheckpointStore store = store(prefix())) {
            byte[] bytes = "recorded".getBytes(StandardCharsets.UTF_8);
            CheckpointStore.StoredManifest stored = store.write("web", "ckpt-000003", "h1", bytes);
            String otherDigest = CheckpointStore.sha256Hex("something else".getBytes(StandardCharsets.UTF_8));

            assertThatThrownBy(() -> store.readVerified("web", "ckpt-000003", "h1", otherDigest, bytes.length))
                    .isInstanceOf(StoreCorruptionException.class)
                    .hasMessageContaining(stored.uri(), "the catalog recorded " + otherDigest);
        }
    }

    @Test
    void theFirstStoreIdClaimedStays() throws Exception {
        try (S3CheckpointStore one = store("shared-" + UUID.randomUUID()); S3CheckpointStore other = store(one.uri()
                .substring(("s3://" + bucket + "/").length()))) {
            assertThat(one.storeId()).isEmpty();
            assertThat(one.claimStoreId("id-one")).isEqualTo("id-one");
            assertThat(other.claimStoreId("id-other")).isEqualTo("id-one");
            assertThat(other.storeId()).contains("id-one");
        }
    }

    @Test
    void anErrorAnswerFailsTheWriteNamingTheObjectAndTheServersWords() {
        try (S3CheckpointStore store = S3ProxyServer.store("no-such-bucket-" + UUID.randomUUID().toString().substring(0, 8),
                "p", server.endpoint())) {
            assertThatThrownBy(() -> store.write("web", "ckpt-000004", "h1", new byte[] {1, 2, 3}))
                    .isInstanceOf(IOException.class)
                    .hasMessageContaining("cannot write manifest of host h1 to " + store.manifestUri("web", "ckpt-000004", "h1"))
                    .hasMessageContaining("HTTP 404 NoSuchBucket");
        }
    }
}
