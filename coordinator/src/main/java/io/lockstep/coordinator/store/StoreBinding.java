package io.lockstep.coordinator.store;

import io.lockstep.zk.ZkLayout;
import org.apache.curator.framework.CuratorFramework;
import org.apache.zookeeper.KeeperException;

import java.io.IOException;
import java.io.StringReader;
import java.io.StringWriter;
import java.nio.charset.StandardCharsets;
import java.util.Optional;
import java.util.Properties;
import java.util.UUID;

/**
 * One store per deployment. At first use the store gets an id (an object in the store, never
 * overwritten) and ZooKeeper records that id and the store's URI ({@code <root>/store}); from then
 * on a coordinator acts only on the store with that id — whatever path or endpoint it reaches it by.
 */
public final class StoreBinding {
    private static final String NODE = "store";

    /** The deployment's store as ZooKeeper recorded it. */
    public record Recorded(String uri, String storeId) {
    }

    /** How a coordinator's store compares with the deployment's. */
    public record Check(Recorded deployment, Optional<String> storeId, boolean matches) {
    }

    private final CuratorFramework zk;
    private final ZkLayout layout;

    public StoreBinding(CuratorFramework zk, ZkLayout layout) {
        this.zk = zk;
        this.layout = layout;
    }

    public String path() {
        return layout.root() + "/" + NODE;
    }

    /**
     * For a coordinator that acts: records {@code store} as the deployment's store if none is yet,
     * else checks that it is that one.
     *
     * @return empty when no store is recorded yet and this one cannot take an id (full, failing):
     *         the first use is the first that works, and the operation will meet the same failure
     * @throws StoreMismatchException naming both stores when it is not
     */
    public Optional<Recorded> bind(CheckpointStore store) throws Exception {
        Optional<Recorded> recorded = recorded();
        if (recorded.isEmpty()) {
            String id;
            try {
                id = store.claimStoreId(UUID.randomUUID().toString());
            } catch (IOException unusable) {
                return Optional.empty();
            }
            Recorded mine = new Recorded(store.uri(), id);
            try {
                zk.create().creatingParentsIfNeeded().forPath(path(), encode(mine));
                return Optional.of(mine);
            } catch (KeeperException.NodeExistsException recordedFirst) {
                // Another coordinator recorded its store in the meantime: it must be this one too.
                recorded = recorded();
            }
        }
        Check check = check(store, recorded.orElseThrow());
        if (!check.matches()) {
            throw mismatch(store, check);
        }
        return Optional.of(check.deployment());
    }

    /** The deployment's store, if any coordinator has used one yet. */
    public Optional<Recorded> recorded() throws Exception {
        try {
            return Optional.of(decode(zk.getData().forPath(path())));
        } catch (KeeperException.NoNodeException none) {
            return Optional.empty();
        }
    }

    /** Compares {@code store} with the recorded one, writing nothing anywhere. */
    public Check check(CheckpointStore store, Recorded deployment) throws IOException {
        Optional<String> id;
        try {
            id = store.storeId();
        } catch (IOException e) {
            throw new IOException("cannot check store " + store.uri() + " against this deployment's store "
                    + deployment.uri() + " (store id " + deployment.storeId() + "): " + e.getMessage(), e);
        }
        return new Check(deployment, id, id.map(deployment.storeId()::equals).orElse(false));
    }

    public StoreMismatchException mismatch(CheckpointStore store, Check check) {
        return new StoreMismatchException("this coordinator's store " + store.uri() + " ("
                + check.storeId().map(id -> "store id " + id).orElse("no store id") + ") is not this deployment's store "
                + check.deployment().uri() + " (store id " + check.deployment().storeId() + ", recorded in ZooKeeper at "
                + path() + "): every coordinator of a deployment must use the one store; pass --store with that store "
                + "(for a read-only recovery from another store: coordinator restore --store)");
    }

    private static byte[] encode(Recorded recorded) throws IOException {
        Properties properties = new Properties();
        properties.setProperty("uri", recorded.uri());
        properties.setProperty("id", recorded.storeId());
        StringWriter text = new StringWriter();
        properties.store(text, "Lockstep: this deployment's checkpoint store");
        return text.toString().getBytes(StandardCharsets.UTF_8);
    }

    private Recorded decode(byte[] data) throws IOException {
        Properties properties = new Properties();
        properties.load(new StringReader(new String(data, StandardCharsets.UTF_8)));
        String uri = properties.getProperty("uri");
        String id = properties.getProperty("id");
        if (uri == null || id == null) {
            throw new IOException("ZooKeeper node " + path() + " does not record a store (uri and id): "
                    + new String(data, StandardCharsets.UTF_8));
        }
        return new Recorded(uri, id);
    }
}
