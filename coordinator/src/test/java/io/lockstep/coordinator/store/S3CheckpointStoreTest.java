package io.lockstep.coordinator.store;

import io.lockstep.coordinator.testing.S3ProxyServer;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

import software.amazon.awssdk.core.interceptor.Context;
import software.amazon.awssdk.core.interceptor.ExecutionAttributes;
import software.amazon.awssdk.core.interceptor.ExecutionInterceptor;
import software.amazon.awssdk.http.SdkHttpMethod;
import software.amazon.awssdk.http.SdkHttpRequest;

import java.io.IOException;
import java.net.HttpURLConnection;
import java.net.InetAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.net.URI;
import java.nio.charset.StandardCharsets;
import java.nio.file.FileAlreadyExistsException;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.UUID;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.TimeUnit;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

/**
 * The s3: store against a real S3-compatible server (S3Proxy, filesystem backend). The headers
 * each PUT sends are read off the wire by an SDK interceptor.
 */
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

    /** Every request the store's client sends, as it goes on the wire. */
    private static final class SentRequests implements ExecutionInterceptor {
        final List<SdkHttpRequest> sent = new CopyOnWriteArrayList<>();

        @Override
        public void beforeTransmission(Context.BeforeTransmission context, ExecutionAttributes attributes) {
            sent.add(context.httpRequest());
        }

        List<SdkHttpRequest> puts() {
            return sent.stream().filter(request -> request.method() == SdkHttpMethod.PUT).toList();
        }
    }

    private static S3CheckpointStore store(String prefix, ServerSideEncryption encryption, SentRequests sent) {
        return S3CheckpointStore.open(bucket, prefix, new S3StoreSettings(server.endpoint(), S3ProxyServer.credentials(),
                false, encryption), List.of(sent));
    }

    @Test
    void everyObjectIsWrittenPrivateAndAnAnonymousReaderIsRefused() throws Exception {
        SentRequests sent = new SentRequests();
        String prefix = prefix();
        try (S3CheckpointStore store = store(prefix, ServerSideEncryption.NONE, sent)) {
            store.claimStoreId("id-private");
            store.write("web", "ckpt-000005", "h1", "secret environment".getBytes(StandardCharsets.UTF_8));
        }

        assertThat(sent.puts()).as("the store id and the manifest").hasSize(2)
                .allSatisfy(put -> assertThat(put.firstMatchingHeader("x-amz-acl")).contains("private"))
                .allSatisfy(put -> assertThat(put.firstMatchingHeader("x-amz-server-side-encryption")).isEmpty());
        for (String key : List.of(prefix + "/.lockstep-store-id", prefix + "/web/ckpt-000005/h1.manifest")) {
            HttpURLConnection anonymous = (HttpURLConnection) URI.create(server.endpoint() + "/" + bucket + "/" + key)
                    .toURL().openConnection();
            try {
                assertThat(anonymous.getResponseCode()).as("anonymous GET of " + key).isEqualTo(403);
            } finally {
                anonymous.disconnect();
            }
        }
    }

    @Test
    void serverSideEncryptionIsAskedForOnEveryPutAndAServerWithoutItFailsTheWriteNamingTheObjectAndLeavesNothing()
            throws Exception {
        Map<ServerSideEncryption, Map<String, String>> asked = Map.of(
                ServerSideEncryption.parse("aes256"), Map.of("x-amz-server-side-encryption", "AES256"),
                ServerSideEncryption.parse("kms:alias/lockstep"), Map.of("x-amz-server-side-encryption", "aws:kms",
                        "x-amz-server-side-encryption-aws-kms-key-id", "alias/lockstep"));
        for (Map.Entry<ServerSideEncryption, Map<String, String>> encryption : asked.entrySet()) {
            SentRequests sent = new SentRequests();
            try (S3CheckpointStore store = store(prefix(), encryption.getKey(), sent)) {
                assertThatThrownBy(() -> store.write("web", "ckpt-000006", "h1", new byte[] {1, 2, 3}))
                        .isInstanceOf(IOException.class)
                        .hasMessageContaining("cannot write manifest of host h1 to " + store.manifestUri("web", "ckpt-000006", "h1"))
                        .hasMessageContaining("the server does not implement server-side encryption (" + encryption.getKey() + ")")
                        .hasMessageContaining("HTTP 501 NotImplemented");
                assertThat(store.exists("web", "ckpt-000006", "h1", 3)).as("nothing published").isFalse();
            }
            assertThat(sent.puts()).isNotEmpty().allSatisfy(put -> encryption.getValue().forEach((header, value) ->
                    assertThat(put.firstMatchingHeader(header)).as(header).contains(value)));
        }
    }

    @Test
    void theEncryptionOptionTakesOnlyWhatItCanAsk() {
        assertThat(ServerSideEncryption.parse("none").requested()).isFalse();
        assertThat(ServerSideEncryption.parse("AES256")).hasToString("SSE-S3 AES256");
        assertThat(ServerSideEncryption.parse("kms")).hasToString("SSE-KMS with the default key");
        assertThat(ServerSideEncryption.parse("kms:arn:aws:kms:eu-west-1:111122223333:key/abc"))
                .hasToString("SSE-KMS with key arn:aws:kms:eu-west-1:111122223333:key/abc");
        for (String wrong : List.of("aes", "kms:", "aes256:key", "sse-c")) {
            assertThatThrownBy(() -> ServerSideEncryption.parse(wrong)).isInstanceOf(IllegalArgumentException.class)
                    .hasMessageContaining("--store-sse " + wrong + ": use none, aes256");
        }
        assertThatThrownBy(() -> StoreLocation.open("/var/lib/lockstep/store", null, ServerSideEncryption.parse("aes256"), false))
                .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("--store-sse is for an s3: store");
    }

    /**
     * Without credentials the store fails at once, naming itself, and never asks the instance
     * metadata service (here a local socket) unless told to. Connections queue in order, so a
     * marker connection made after the failure is the first one accepted exactly when nothing
     * connected before it.
     */
    @Test
    void withoutCredentialsTheStoreFailsNamingItselfAndAsksTheInstanceRoleOnlyWhenTold() throws Exception {
        org.junit.jupiter.api.Assumptions.assumeTrue(System.getenv("AWS_ACCESS_KEY_ID") == null
                && System.getenv("AWS_PROFILE") == null && System.getenv("AWS_WEB_IDENTITY_TOKEN_FILE") == null,
                "this environment has AWS credentials");
        Map<String, String> properties = Map.of("aws.sharedCredentialsFile", dir.resolve("no-credentials").toString(),
                "aws.configFile", dir.resolve("no-config").toString());
        try (ServerSocket metadataService = new ServerSocket(0, 50, InetAddress.getLoopbackAddress())) {
            properties.forEach(System::setProperty);
            System.setProperty("aws.ec2MetadataServiceEndpoint", "http://127.0.0.1:" + metadataService.getLocalPort());
            for (boolean instanceRole : List.of(false, true)) {
                String prefix = prefix();
                try (S3CheckpointStore store = S3CheckpointStore.open(bucket, prefix,
                        new S3StoreSettings(server.endpoint(), null, instanceRole, ServerSideEncryption.NONE))) {
                    assertThatThrownBy(store::storeId).isInstanceOf(IOException.class)
                            .hasMessageContaining("no AWS credentials for store s3://" + bucket + "/" + prefix)
                            .hasMessageContaining(instanceRole ? "the EC2 instance role (instance metadata service) had none"
                                    : "on EC2, --store-instance-role uses the instance's role");
                }
                assertThat(connectionsBeforeAMarker(metadataService)).as("instance metadata service asked, instance role "
                        + instanceRole).is(instanceRole ? POSITIVE : ZERO);
            }
        } finally {
            properties.keySet().forEach(System::clearProperty);
            System.clearProperty("aws.ec2MetadataServiceEndpoint");
        }
    }

    private static final org.assertj.core.api.Condition<Integer> ZERO = new org.assertj.core.api.Condition<>(n -> n == 0, "none");
    private static final org.assertj.core.api.Condition<Integer> POSITIVE = new org.assertj.core.api.Condition<>(n -> n > 0, "some");

    private static int connectionsBeforeAMarker(ServerSocket listening) throws IOException {
        try (Socket marker = new Socket(InetAddress.getLoopbackAddress(), listening.getLocalPort())) {
            int before = 0;
            while (true) {
                try (Socket accepted = listening.accept()) {
                    if (accepted.getPort() == marker.getLocalPort()) {
                        return before;
                    }
                    before++;
                }
            }
        }
    }
}
