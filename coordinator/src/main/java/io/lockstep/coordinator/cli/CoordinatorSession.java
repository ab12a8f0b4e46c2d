package io.lockstep.coordinator.cli;

import io.lockstep.manifest.ManifestKey;
import java.util.Optional;
import io.lockstep.coordinator.agents.AgentClients;
import io.lockstep.coordinator.catalog.Catalog;
import io.lockstep.coordinator.embedded.EmbeddedZooKeeper;
import io.lockstep.coordinator.op.CoordinatorContext;
import io.lockstep.coordinator.store.CheckpointStore;
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

/** One command's connection to ZooKeeper and the store, with the context operations run in. */
final class CoordinatorSession implements AutoCloseable {
    private static final Duration LOCAL_START_TIMEOUT = Duration.ofSeconds(60);

    private final CuratorFramework zk;
    private final CoordinatorContext context;

    private CoordinatorSession(CuratorFramework zk, CoordinatorContext context) {
        this.zk = zk;
        this.context = context;
    }

    /**
     * Connects as the options say; with no ZooKeeper configured, uses (and if needed starts) the
     * local one, and tells the operator on {@code err} when it started one.
     */
    static CoordinatorSession open(ConnectionOptions options, PrintWriter err) throws ZkUnavailableException {
        ZkLayout layout = new ZkLayout(options.zkRoot);
        ZkConnect target = options.stateDir.resolve(options.zk);
        String connectString = target.isLocal() ? localServer(target.stateDir(), err) : target.connectString().orElseThrow();
        Path storeDir = options.store != null ? options.store : target.stateDir().resolve("store");
        // Before connecting: a bad key file is a usage error, found without side effects.
        Optional<ManifestKey> manifestKey = Optional.ofNullable(options.manifestKey).map(ManifestKey::read);
        AgentClients clients = new AgentClients(options.tls.config());
        CuratorFramework zk = ZkClients.connect(connectString, options.sessionTimeout(), options.zkConnectTimeout,
                options.zkAuth.resolve(), options.zkRoot);
        return new CoordinatorSession(zk, CoordinatorContext.create(zk, layout, new CheckpointStore(storeDir), Clock.systemUTC(),
                clients).withManifestKey(manifestKey));
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
        zk.close();
    }
}
