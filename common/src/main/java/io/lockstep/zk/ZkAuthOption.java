package io.lockstep.zk;

import picocli.CommandLine.Option;

import java.util.Optional;

/** {@code --zk-auth}: the same option on every command that connects to ZooKeeper. */
public final class ZkAuthOption {
    @Option(names = "--zk-auth", paramLabel = "USER:PASSWORD",
            description = "ZooKeeper digest credentials (default: $" + ZkAuth.ENV + ", which keeps the password out of "
                    + "the process list). Nodes created under the Lockstep root get an ACL for this identity only: "
                    + "every agent and coordinator must use the same credentials.")
    String zkAuth;

    public Optional<ZkAuth> resolve() {
        return ZkAuth.resolve(zkAuth, System.getenv());
    }
}
