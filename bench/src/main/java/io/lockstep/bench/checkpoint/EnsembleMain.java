package io.lockstep.bench.checkpoint;

import org.apache.curator.test.InstanceSpec;
import org.apache.curator.test.TestingCluster;

import java.util.ArrayList;
import java.util.List;

/**
 * A 3-server ZooKeeper ensemble (curator-test) in its own JVM, so that its garbage collection
 * and threads do not share a heap with the agents measured. Prints its
 * connect string ({@code CONNECT host:port,…}) then {@code READY}, lives until its stdin closes,
 * then removes its data directories.
 */
public final class EnsembleMain {
    static final int SERVERS = 3;
    /** 256 agents and 256 barrier members hold sessions from one address: lift the default 60. */
    private static final int MAX_CLIENT_CONNECTIONS = 2000;
    private static final int TICK_MILLIS = 1000;

    private EnsembleMain() {
    }

    public static void main(String[] args) throws Exception {
        List<InstanceSpec> specs = new ArrayList<>();
        for (int id = 1; id <= SERVERS; id++) {
            specs.add(new InstanceSpec(null, -1, -1, -1, true, id, TICK_MILLIS, MAX_CLIENT_CONNECTIONS));
        }
        try (TestingCluster cluster = new TestingCluster(specs)) {
            cluster.start();
            System.out.println("CONNECT " + cluster.getConnectString());
            System.out.println("READY");
            System.out.flush();
            while (System.in.read() >= 0) {
                // the parent never writes; EOF means it is gone or done with us
            }
        }
        // ZooKeeper leaves non-daemon threads behind; the data directories are gone by now
        System.exit(0);
    }
}
