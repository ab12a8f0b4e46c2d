package io.lockstep.coordinator.op;

import io.lockstep.manifest.ManifestFormatException;
import io.lockstep.manifest.ManifestKey;
import java.util.Optional;
import io.lockstep.coordinator.agents.AgentClients;
import io.lockstep.coordinator.agents.AgentDirectory;
import io.lockstep.coordinator.store.CheckpointStore;
import io.lockstep.proto.LockHolder;
import io.lockstep.zk.ZkLayout;
import org.apache.curator.framework.CuratorFramework;

import java.lang.management.ManagementFactory;
import java.net.InetAddress;
import java.net.UnknownHostException;
import java.time.Clock;
import java.util.UUID;

/** What every operation step needs: ZooKeeper, the layout, the agents, the store, a clock, and who we are. */
public record CoordinatorContext(CuratorFramework zk, ZkLayout layout, AgentDirectory directory, AgentClients clients,
                                 CheckpointStore store, Clock clock, String coordinatorId,
                                 Optional<ManifestKey> manifestKey) {

    public static CoordinatorContext create(CuratorFramework zk, ZkLayout layout, CheckpointStore store, Clock clock) {
        return create(zk, layout, store, clock, new AgentClients());
    }

    /** With the given channels to agents, e.g. mutual TLS ones. */
    public static CoordinatorContext create(CuratorFramework zk, ZkLayout layout, CheckpointStore store, Clock clock,
                                            AgentClients clients) {
        return new CoordinatorContext(zk, layout, new AgentDirectory(zk, layout), clients, store, clock,
                hostname() + "-" + ProcessHandle.current().pid() + "-" + UUID.randomUUID().toString().substring(0, 8),
                Optional.empty());
    }

    /** The same context, encrypting the manifests it stores with {@code key} (and decrypting with it). */
    public CoordinatorContext withManifestKey(Optional<ManifestKey> key) {
        return new CoordinatorContext(zk, layout, directory, clients, store, clock, coordinatorId, key);
    }

    /** Manifest bytes as they go to the store: encrypted when a manifest key is configured. */
    public byte[] sealForStore(byte[] framed) {
        return manifestKey.map(key -> key.seal(framed)).orElse(framed);
    }

    /** Stored manifest bytes as framed ones: decrypted when encrypted (refused without the right key). */
    public byte[] unsealFromStore(byte[] stored) throws ManifestFormatException {
        return ManifestKey.unseal(manifestKey, stored);
    }

    public LockHolder lockHolder(String opId) {
        return LockHolder.newBuilder()
                .setCoordinatorId(coordinatorId)
                .setOpId(opId)
                .setHostname(hostname())
                .setPid((int) ProcessHandle.current().pid())
                .setSinceUnixMs(clock.millis())
                .build();
    }

    static String hostname() {
        try {
            return InetAddress.getLocalHost().getHostName();
        } catch (UnknownHostException e) {
            return ManagementFactory.getRuntimeMXBean().getName();
        }
    }
}
