package io.lockstep.coordinator.testing;

import io.lockstep.coordinator.store.S3CheckpointStore;
import software.amazon.awssdk.auth.credentials.AwsBasicCredentials;
import software.amazon.awssdk.auth.credentials.AwsCredentialsProvider;
import software.amazon.awssdk.auth.credentials.StaticCredentialsProvider;
import software.amazon.awssdk.http.urlconnection.UrlConnectionHttpClient;
import software.amazon.awssdk.regions.Region;
import software.amazon.awssdk.services.s3.S3Client;

import java.io.IOException;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.net.URI;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Map;

import static org.awaitility.Awaitility.await;

/**
 * A real S3-compatible server for the s3: store's tests: S3Proxy with its filesystem backend, as a
 * process of its own (its jar, copied by the build, carries Jetty, logback and Guava versions that
 * would clash with ours). It can be killed and started again on the same port and data.
 */
public final class S3ProxyServer implements AutoCloseable {
    public static final String IDENTITY = "lockstep-test-identity";
    public static final String CREDENTIAL = "lockstep-test-credential";
    private static final Duration START_TIMEOUT = Duration.ofSeconds(90);

    private final Path dir;
    private final int port;
    private Process process;

    private S3ProxyServer(Path dir, int port) {
        this.dir = dir;
        this.port = port;
    }

    /** Starts a server keeping its objects under {@code dir}/data. */
    public static S3ProxyServer start(Path dir) throws Exception {
        int port;
        try (ServerSocket probe = new ServerSocket(0)) {
            port = probe.getLocalPort();
        }
        S3ProxyServer server = new S3ProxyServer(dir, port);
        Files.createDirectories(dir.resolve("data"));
        Files.writeString(dir.resolve("s3proxy.conf"), String.join("\n",
                "s3proxy.endpoint=http://127.0.0.1:" + port,
                "s3proxy.authorization=aws-v2-or-v4",
                "s3proxy.identity=" + IDENTITY,
                "s3proxy.credential=" + CREDENTIAL,
                "jclouds.provider=filesystem",
                "jclouds.filesystem.basedir=" + dir.resolve("data")) + "\n");
        server.restart();
        return server;
    }

    /** Starts the server (again), on the same port and data, and waits until it accepts connections. */
    public synchronized void restart() throws Exception {
        String jar = System.getProperty("lockstep.s3proxyJar");
        if (jar == null || !Files.isRegularFile(Path.of(jar))) {
            throw new IllegalStateException("S3Proxy jar " + jar + " is missing: the build copies it (mvn process-test-resources)");
        }
        Path java = Path.of(System.getProperty("java.home"), "bin", "java");
        process = new ProcessBuilder(List.of(java.toString(), "-Xmx256m", "-XX:TieredStopAtLevel=1", "-jar", jar, "--properties",
                dir.resolve("s3proxy.conf").toString()))
                .redirectErrorStream(true)
                .redirectOutput(ProcessBuilder.Redirect.appendTo(dir.resolve("s3proxy.log").toFile()))
                .start();
        Process started = process;
        await("S3Proxy on port " + port + " accepts connections (log " + dir.resolve("s3proxy.log") + ")")
                .atMost(START_TIMEOUT).pollInterval(Duration.ofMillis(200))
                .until(() -> {
                    if (!started.isAlive()) {
                        throw new IllegalStateException("S3Proxy exited with " + started.exitValue() + "; see "
                                + dir.resolve("s3proxy.log"));
                    }
                    return accepts();
                });
    }

    private boolean accepts() {
        try (Socket socket = new Socket()) {
            socket.connect(new InetSocketAddress("127.0.0.1", port), 500);
            return true;
        } catch (IOException notYet) {
            return false;
        }
    }

    /** SIGKILL: the server stops mid-whatever, as a crashed machine's would. */
    public synchronized void kill() throws InterruptedException {
        if (process != null && process.isAlive()) {
            process.destroyForcibly();
            process.waitFor();
        }
    }

    /** Whether the server's JVM runs (it may still be starting). */
    public synchronized boolean running() {
        return process != null && process.isAlive();
    }

    public int port() {
        return port;
    }

    public URI endpoint() {
        return URI.create("http://127.0.0.1:" + port);
    }

    public Path dataDir() {
        return dir.resolve("data");
    }

    public static AwsCredentialsProvider credentials() {
        return StaticCredentialsProvider.create(AwsBasicCredentials.create(IDENTITY, CREDENTIAL));
    }

    /** The SDK's usual environment variables, for a coordinator run as a child process. */
    public static Map<String, String> environment() {
        return Map.of("AWS_ACCESS_KEY_ID", IDENTITY, "AWS_SECRET_ACCESS_KEY", CREDENTIAL, "AWS_REGION", "us-east-1");
    }

    /** A plain client of this server, to make buckets and look at what is stored. */
    public S3Client client() {
        return S3Client.builder().httpClientBuilder(UrlConnectionHttpClient.builder()).region(Region.US_EAST_1)
                .credentialsProvider(credentials()).endpointOverride(endpoint()).forcePathStyle(true).build();
    }

    public String createBucket(String bucket) {
        try (S3Client s3 = client()) {
            s3.createBucket(create -> create.bucket(bucket));
        }
        return bucket;
    }

    /** The store at {@code s3://bucket/prefix} on this server, through {@code endpoint} (this server or a relay). */
    public static S3CheckpointStore store(String bucket, String prefix, URI endpoint) {
        return S3CheckpointStore.open(bucket, prefix, endpoint, credentials());
    }

    @Override
    public void close() throws InterruptedException {
        kill();
    }
}
