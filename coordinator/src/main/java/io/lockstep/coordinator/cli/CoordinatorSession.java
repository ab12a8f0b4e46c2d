package io.lockstep.coordinator.cli;

import io.lockstep.manifest.ManifestKey;
import io.lockstep.coordinator.agents.AgentClients;
import io.lockstep.coordinator.catalog.Catalog;
import io.lockstep.coordinator.embedded.EmbeddedZooKeeper;
import io.lockstep.coordinator.op.CoordinatorContext;
import io.lockstep.coordinator.op.FailureReason;
import io.lockstep.coordinator.op.OperationFailedException;
import io.lockstep.coordinator.store.CheckpointStore;
import io.lockstep.coordinator.store.ServerSideEncryption;
import io.lockstep.coordinator.store.StoreBinding;
import io.lockstep.coordinator.store.StoreLocation;
import io.lockstep.zk.ZkClients;
import io.lockstep.zk.ZkConnect;
import io.lockstep.zk.ZkLayout;
import io.lockstep.zk.ZkUnavailableException;
import org.apache.curator.framework.CuratorFramework;

import java.io.IOException;
import java.io.PrintWriter;
import java.nio.file.Path;
import java.time.Clock;
import java.time.Duration;
import java.util.Optional;

/** One command's connection to ZooKeeper and the store, with the context operations run in. */
final class CoordinatorSession implements AutoCloseable {
    private static final Duration LOCAL_START_TIMEOUT = Duration.ofSeconds(60);

    private final CuratorFramework zk;
    private final CoordinatorContext context;
    private Optional<StoreBinding.Check> recovery = Optional.empty();

    private CoordinatorSession(CuratorFramework zk, CoordinatorContext context) {
        this.zk = zk;
        this.context = context;
    }

    /**
     * Connects as the options say; with no ZooKeeper configured, uses (and if needed starts) the
     * local one, and tells the operator on {@code err} when it started one.
     */
    static CoordinatorSession open(ConnectionOptions options, PrintWriter err) throws Exception {
        return open(options, err, StoreUse.READ);
    }

    /** What a command does with the store, and so how it must match the deployment's (see {@link StoreBinding}). */
    enum StoreUse {
        /** Reads the catalog only. */
        NONE,
        /** Reads manifests: refused on another store. */
        READ,
        /** Writes or deletes: records the store at first use, refused on another store. */
        ACT,
        /** A restore: on another store given with --store, a read-only recovery that says so. */
        RESTORE
    }

    /** As {@link #open(ConnectionOptions, PrintWriter)}, checking the store as {@code use} needs. */
    static CoordinatorSession open(ConnectionOptions options, PrintWriter err, StoreUse use) throws Exception {
        ZkLayout layout = new ZkLayout(options.zkRoot);
        ZkConnect target = options.stateDir.resolve(options.zk);
        String connectString = target.isLocal() ? localServer(target.stateDir(), err) : target.connectString().orElseThrow();
        String storeLocation = options.store != null ? options.store : target.stateDir().resolve("store").toString();
        // Before connecting: a bad key file is a usage error, found without side effects.
        Optional<ManifestKey> manifestKey = Optional.ofNullable(options.manifestKey).map(ManifestKey::read);
        CheckpointStore store = StoreLocation.open(storeLocation, options.storeEndpoint,
                ServerSideEncryption.parse(options.storeSse), options.storeInstanceRole);
        AgentClients clients = new AgentClients(options.tls.config());
        CuratorFramework zk = ZkClients.connect(connectString, options.zkSessionTimeout, options.zkConnectTimeout,
                options.zkAuth.resolve(), options.zkRoot);
        CoordinatorSession session = new CoordinatorSession(zk, CoordinatorContext.create(zk, layout, store,
                Clock.systemUTC(), clients).withManifestKey(manifestKey));
        try {
            session.recovery = session.checkStore(use, options.store != null);
        } catch (IOException unreachable) {
            session.close();
            throw new OperationFailedException(FailureReason.STORE_FAILED, null, unreachable.getMessage(), unreachable);
        } catch (Exception e) {
            session.close();
            throw e;
        }
        return session;
    }

    /** @return the deployment's store when this session reads another one, as a read-only recovery */
    private Optional<StoreBinding.Check> checkStore(StoreUse use, boolean storeGiven) throws Exception {
        StoreBinding binding = new StoreBinding(zk, context.layout());
        CheckpointStore store = context.store();
        switch (use) {
            case NONE -> {
                return Optional.empty();
            }
            case ACT -> {
                binding.bind(store);
                return Optional.empty();
            }
            default -> {
                Optional<StoreBinding.Recorded> recorded = binding.recorded();
                if (recorded.isEmpty()) {
                    return Optional.empty();
                }
                StoreBinding.Check check = binding.check(store, recorded.get());
                if (check.matches()) {
                    return Optional.empty();
                }
                if (use == StoreUse.RESTORE && storeGiven) {
                    return Optional.of(check);
                }
                throw binding.mismatch(store, check);
            }
        }
    }

    /** Set when this session restores from a store that is not the deployment's. */
    Optional<StoreBinding.Check> recovery() {
        return recovery;
    }

    private static String localServer(Path stateDir, PrintWriter err) throws ZkUnavailableException {
        EmbeddedZooKeeper local = new EmbeddedZooKeeper(stateDir, LOCAL_START_TIMEOUT);
        EmbeddedZooKeeper.Running running;
        try {
            running = local.ensureRunning();
        } catch (IOException e) {
            throw new ZkUnavailableException("no ZooKeeper configured (--zk, $" + ZkConnect.ENV
                    + ") and the local one is unavailable: " + e.getMessage(), e);
        }
        if (running.startedNow()) {
            err.println("lockstep: no ZooKeeper configured (--zk, $" + ZkConnect.ENV + "): started a local one at "
                    + running.connectString() + " (pid " + running.pid() + ", data in "
                    + EmbeddedZooKeeper.dataDir(stateDir) + "); `coordinator zookeeper stop` stops it");
            err.flush();
        }
        return running.connectString();
    }

    CuratorFramework zk() {
        return zk;
    }

    CoordinatorContext context() {
        return context;
    }

    Catalog catalog() {
        return new Catalog(context);
    }

    @Override
    public void close() {
        context.clients().close();
        context.store().close();
        zk.close();
    }
}
