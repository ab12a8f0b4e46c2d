package io.lockstep.coordinator.schedules;

import io.lockstep.coordinator.schedules.FaultKind.Operation;
import io.lockstep.coordinator.testing.LocalCluster;

import java.nio.file.Path;
import java.time.Duration;
import java.util.EnumMap;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * The cluster the schedules of one soak share: ZooKeeper, host h1 as an agent in this JVM, host h2
 * as an agent JVM (so that a kill or a pause is real). A fresh cluster is not what a schedule
 * tests, so each schedule runs on this one with a group of its own, and checks at its end that its
 * group left nothing behind ({@link ScheduleRun#endAndCheckNothingLeft}). A failed schedule's
 * cluster is closed, not reused.
 */
final class ScheduleCluster implements AutoCloseable {
    static final String STEADY_HOST = "h1";
    static final String FAULTY_HOST = "h2";
    private static final String EXPORT_FS = "tmpfs";
    /**
     * Of agents and coordinators: twice the server's minimum. What waits for an expiry (a killed
     * agent's or coordinator's session, a pause or an outage past it) waits this long, not 4 s.
     */
    static final Duration SESSION_TIMEOUT = LocalCluster.MIN_SESSION_TIMEOUT.multipliedBy(2);

    final LocalCluster cluster;
    /**
     * Where the groups' data files live: a tmpfs mounted as {@code nfs-<id>:/export}, which both
     * agents count as a network file system, so that a lock on it is one shared file of both hosts
     * (a plain local file would be a different file on each host for the restore's conflict checks).
     */
    final Path export;
    final AgentEpochLog epochs = new AgentEpochLog();
    /** Per operation, the time left after each moment in its latest run without fault. */
    final Map<Operation, Map<String, Long>> measuredRemainingMillis = new EnumMap<>(Operation.class);
    private int groups;

    private ScheduleCluster(LocalCluster cluster, Path export) {
        this.cluster = cluster;
        this.export = export;
    }

    static ScheduleCluster start() throws Exception {
        LocalCluster cluster = LocalCluster.startWithSessionTimeout(SESSION_TIMEOUT);
        try {
            Path export = cluster.mountExport("export");
            cluster.startAgent(STEADY_HOST, config -> config.withNetworkFsTypes(Set.of(EXPORT_FS)));
            startFaultyAgent(cluster);
            return new ScheduleCluster(cluster, export);
        } catch (Throwable e) {
            cluster.close();
            throw e;
        }
    }

    /** h2's agent JVM, with the export's file system counted as a network one (also when restarted). */
    static void startFaultyAgent(LocalCluster cluster) throws Exception {
        cluster.startAgentProcess(FAULTY_HOST, List.of("--network-fs", EXPORT_FS));
    }

    /** A group name no earlier schedule on this cluster used. */
    String nextGroup() {
        return "app" + ++groups;
    }

    @Override
    public void close() throws Exception {
        try {
            epochs.close();
        } finally {
            cluster.close();
        }
    }
}
