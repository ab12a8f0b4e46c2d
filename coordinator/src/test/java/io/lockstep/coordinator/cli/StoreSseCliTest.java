package io.lockstep.coordinator.cli;

import io.lockstep.coordinator.testing.Invariants;
import io.lockstep.coordinator.testing.LocalCluster;
import io.lockstep.coordinator.testing.S3ProxyServer;
import io.lockstep.zk.testing.ZkTestRoot;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.extension.RegisterExtension;
import org.junit.jupiter.api.io.TempDir;
import software.amazon.awssdk.services.s3.S3Client;

import java.nio.file.Path;
import java.util.Map;
import java.util.UUID;
import java.util.concurrent.TimeUnit;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * `--store-sse` from the command line to the PUT: against S3Proxy, which does not implement
 * server-side encryption, a checkpoint of a real agent's group aborts naming the manifest object
 * and the encryption asked for, stores nothing and thaws the group (the store id could not be
 * written either, so none is recorded: DESIGN "One store per deployment"); the option on a store
 * that is not s3:, or an unknown kind, is a usage error. Credentials reach the in-process CLI as the SDK's
 * system properties.
 */
@Timeout(value = 3, unit = TimeUnit.MINUTES, threadMode = Timeout.ThreadMode.SEPARATE_THREAD)
class StoreSseCliTest {
    private static final Map<String, String> CREDENTIALS = Map.of("aws.accessKeyId", S3ProxyServer.IDENTITY,
            "aws.secretAccessKey", S3ProxyServer.CREDENTIAL);
    @TempDir
    static Path dir;
    private static S3ProxyServer s3;
    private static String bucket;
    @RegisterExtension
    final ZkTestRoot root = new ZkTestRoot();

    @BeforeAll
    static void startServers() throws Exception {
        s3 = S3ProxyServer.start(dir.resolve("s3proxy"));
        bucket = s3.createBucket("sse-" + UUID.randomUUID().toString().substring(0, 8));
        CREDENTIALS.forEach(System::setProperty);
    }

    @AfterAll
    static void stopServers() throws Exception {
        CREDENTIALS.keySet().forEach(System::clearProperty);
        if (s3 != null) {
            s3.close();
        }
    }

    @Test
    void aCheckpointAskingForEncryptionTheServerCannotDoAbortsNamingTheObjectAndStoresNothing() throws Exception {
        try (LocalCluster cluster = LocalCluster.start("h1")) {
            int pid = cluster.run("h1", "app", LocalCluster.worker("ready", "sleep"));
            cluster.awaitReady("h1", "app", pid);

            CliRun run = CliRun.of("checkpoint", "--group", "app", "--no-progress", "--zk", cluster.zkConnect(), "--zk-root",
                    cluster.zkRoot(), "--store", "s3://" + bucket + "/deploy", "--store-endpoint", s3.endpoint().toString(),
                    "--store-sse", "aes256");

            assertThat(run.exit()).as(run.toString()).isEqualTo(ExitCode.ABORTED.code());
            assertThat(run.err()).contains("cannot write manifest of host h1 to s3://" + bucket + "/deploy/app/ckpt-",
                    "the server does not implement server-side encryption (SSE-S3 AES256)", "HTTP 501 NotImplemented");
            try (S3Client client = s3.client()) {
                assertThat(client.listObjectsV2(list -> list.bucket(bucket)).contents()).as("nothing stored").isEmpty();
            }
            Invariants.assertAll(cluster);
        }
    }

    @Test
    void theOptionIsForAnS3StoreAndTakesOnlyKnownKinds() {
        CliRun onFile = CliRun.of("checkpoint", "--group", "web", "--no-progress", "--zk", root.connectString(), "--zk-root",
                root.layout().root(), "--store", dir.resolve("files").toString(), "--store-sse", "aes256");
        assertThat(onFile.exit()).as(onFile.toString()).isEqualTo(ExitCode.USAGE.code());
        assertThat(onFile.err()).contains("--store-sse is for an s3: store");

        CliRun unknown = CliRun.of("checkpoint", "--group", "web", "--no-progress", "--zk", root.connectString(), "--zk-root",
                root.layout().root(), "--store", "s3://" + bucket + "/deploy", "--store-endpoint", s3.endpoint().toString(),
                "--store-sse", "sse-c");
        assertThat(unknown.exit()).as(unknown.toString()).isEqualTo(ExitCode.USAGE.code());
        assertThat(unknown.err()).contains("--store-sse sse-c: use none, aes256");
    }
}
