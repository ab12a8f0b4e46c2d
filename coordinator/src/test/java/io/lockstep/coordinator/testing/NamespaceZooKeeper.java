package io.lockstep.coordinator.testing;

import org.apache.zookeeper.server.ServerCnxnFactory;
import org.apache.zookeeper.server.ZooKeeperServer;
import org.apache.zookeeper.server.persistence.FileTxnSnapLog;

import java.io.File;
import java.net.InetSocketAddress;
import java.nio.file.Files;

/**
 * A single ZooKeeper server as its own JVM, for a network namespace: arguments ADDRESS PORT
 * DATA_DIR. A short tick (250 ms) allows the short session timeouts of partition tests (from 0.5
 * to 5 s) and expires sessions close to their timeout. Prints READY once it serves.
 */
public final class NamespaceZooKeeper {
    static final int TICK_MS = 250;

    private NamespaceZooKeeper() {
    }

    public static void main(String[] args) throws Exception {
        System.setProperty("zookeeper.admin.enableServer", "false");
        File dataDir = new File(args[2]);
        Files.createDirectories(dataDir.toPath());
        ZooKeeperServer server = new ZooKeeperServer(new FileTxnSnapLog(dataDir, dataDir), TICK_MS, "");
        ServerCnxnFactory connections = ServerCnxnFactory.createFactory();
        connections.configure(new InetSocketAddress(args[0], Integer.parseInt(args[1])), 1000);
        connections.startup(server);
        System.out.println("READY");
        System.out.flush();
        connections.join();
    }
}
