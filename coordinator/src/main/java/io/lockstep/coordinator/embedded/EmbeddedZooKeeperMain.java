package io.lockstep.coordinator.embedded;

import io.lockstep.files.PrivateFiles;
import org.apache.zookeeper.server.ServerCnxnFactory;
import org.apache.zookeeper.server.ZooKeeperServer;
import org.apache.zookeeper.server.persistence.FileTxnSnapLog;

import java.io.File;
import java.io.IOException;
import java.net.InetSocketAddress;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;

/**
 * The local single-node ZooKeeper, run as its own background JVM by {@link EmbeddedZooKeeper}:
 * {@code --state-dir DIR --port N}. Listens on 127.0.0.1 only, keeps its data in
 * {@code DIR/zookeeper}, writes its pid to {@code DIR/zookeeper.pid}, and prints {@value #READY}
 * on stdout once it serves, which is how the starter knows it may connect.
 */
public final class EmbeddedZooKeeperMain {
    static final String READY = "READY";
    private static final int TICK_MS = 2000;
    private static final int MAX_CLIENT_CONNECTIONS = 1000;

    private EmbeddedZooKeeperMain() {
    }

    public static void main(String[] args) throws Exception {
        Path stateDir = null;
        int port = -1;
        for (int i = 0; i + 1 < args.length; i += 2) {
            switch (args[i]) {
                case "--state-dir" -> stateDir = Path.of(args[i + 1]);
                case "--port" -> port = Integer.parseInt(args[i + 1]);
                default -> throw new IllegalArgumentException("unknown option " + args[i]);
            }
        }
        if (stateDir == null || port < 1) {
            throw new IllegalArgumentException("usage: EmbeddedZooKeeperMain --state-dir DIR --port N");
        }
        // The admin HTTP server would take a second, public port; "ruok" lets the starter probe us.
        System.setProperty("zookeeper.admin.enableServer", "false");
        System.setProperty("zookeeper.4lw.commands.whitelist", "ruok,srvr,stat");
        System.setProperty("zookeeper.maxCnxns", "0"); // unlimited in total, and says so instead of warning
        // ZooKeeper creates its snapshots and logs itself: only the umask makes them owner-only.
        PrivateFiles.restrictUmask();
        File dataDir = EmbeddedZooKeeper.dataDir(stateDir).toFile();
        PrivateFiles.createDirectories(dataDir.toPath());

        ZooKeeperServer server = new ZooKeeperServer(new FileTxnSnapLog(dataDir, dataDir), TICK_MS, "");
        ServerCnxnFactory connections = ServerCnxnFactory.createFactory();
        connections.configure(new InetSocketAddress(ZkLoopback.ADDRESS, port), MAX_CLIENT_CONNECTIONS);
        connections.startup(server);

        Path pidFile = EmbeddedZooKeeper.pidFile(stateDir);
        PrivateFiles.writeAtomically(pidFile, Long.toString(ProcessHandle.current().pid()).getBytes(StandardCharsets.UTF_8),
                false);
        Runtime.getRuntime().addShutdownHook(new Thread(() -> {
            connections.shutdown();
            server.shutdown();
            deletePidFile(pidFile);
        }, "zookeeper-shutdown"));

        System.out.println(READY);
        System.out.flush();
        // The starter stops reading once we are ready: anything printed later goes to the log.
        System.setOut(System.err);
        connections.join();
    }

    private static void deletePidFile(Path pidFile) {
        try {
            Files.deleteIfExists(pidFile);
        } catch (IOException e) {
            System.err.println("cannot remove " + pidFile + ": " + e.getMessage());
        }
    }
}
