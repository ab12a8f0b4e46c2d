package io.lockstep.coordinator.cli;

import io.lockstep.tls.TlsOptions;
import io.lockstep.zk.ZkAuthOption;
import io.lockstep.zk.ZkLayout;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;

import java.nio.file.Path;
import java.time.Duration;

/**
 * Where ZooKeeper and the store are, and how to authenticate to ZooKeeper and the agents: the
 * options every command that reads or runs operations shares.
 */
final class ConnectionOptions {
    @Option(names = "--zk", paramLabel = "CONNECT",
            description = "ZooKeeper connect string, e.g. zk1:2181,zk2:2181 (default: $LOCKSTEP_ZK, else a local "
                    + "ZooKeeper in the state directory, started on demand).")
    String zk;

    @Option(names = "--zk-root", paramLabel = "PATH", defaultValue = ZkLayout.DEFAULT_ROOT,
            description = "ZooKeeper path under which Lockstep keeps everything (default: ${DEFAULT-VALUE}).")
    String zkRoot;

    @Option(names = "--zk-connect-timeout", paramLabel = "DURATION", defaultValue = "5s",
            description = "Give up when ZooKeeper does not answer within this (default: ${DEFAULT-VALUE}).")
    Duration zkConnectTimeout;

    @Option(names = "--zk-session-timeout", paramLabel = "DURATION", defaultValue = "10s",
            description = "ZooKeeper session timeout of this coordinator: when it dies without a goodbye, its group "
                    + "locks and its leadership of `serve` pass to another coordinator this long after (the ensemble "
                    + "bounds it to 2-20 ticks) (default: ${DEFAULT-VALUE}).")
    Duration zkSessionTimeout;

    @Option(names = "--store", paramLabel = "URI",
            description = "Checkpoint store: file:///PATH or a path (a directory every coordinator mounts), or "
                    + "s3://BUCKET/PREFIX (credentials and region the AWS SDK's usual ways) "
                    + "(default: <state dir>/store, for one machine only).")
    String store;

    @Option(names = "--store-endpoint", paramLabel = "URL",
            description = "An S3-compatible server for an s3: store, e.g. http://minio:9000 (path-style addressing; "
                    + "default: the SDK's, e.g. $AWS_ENDPOINT_URL_S3).")
    String storeEndpoint;

    @Option(names = "--store-sse", paramLabel = "KIND", defaultValue = "none",
            description = "Server-side encryption of what an s3: store writes: none, aes256 (SSE-S3), kms (SSE-KMS, "
                    + "default key) or kms:KEY-ID. A server that cannot do it fails the write, naming it "
                    + "(default: ${DEFAULT-VALUE}; objects are private either way).")
    String storeSse;

    @Option(names = "--store-instance-role",
            description = "Let an s3: store use the EC2 instance role's credentials (asks the instance metadata "
                    + "service, which takes seconds to fail off EC2; without this flag a missing credential fails at once).")
    boolean storeInstanceRole;

    @Option(names = "--manifest-key", paramLabel = "FILE",
            description = "Encrypt the manifests this command stores (AES-256-GCM) and decrypt those it reads with the "
                    + "key in FILE: 64 hex digits (`openssl rand -hex 32`), mode 0600. A manifest that does not decrypt "
                    + "with it is refused as damaged (exit 11). Unencrypted manifests stay readable.")
    Path manifestKey;

    @Mixin
    StateDirOption stateDir;

    @Mixin
    ZkAuthOption zkAuth;

    /** The coordinator's client certificate, required by agents that serve mutual TLS. */
    @Mixin
    TlsOptions tls;
}
