package io.lockstep.bench.checkpoint;

import org.apache.curator.framework.CuratorFramework;
import org.apache.zookeeper.CreateMode;
import org.apache.zookeeper.WatchedEvent;
import org.apache.zookeeper.Watcher;

import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;

/**
 * The floors of the hops a checkpoint still makes through ZooKeeper, measured on the same ensemble
 * in the same run: a bare write (create of an ephemeral node, answered), and a signal — a write on
 * one session until another session's exists watch on that node is notified. Whatever a frozen
 * window holds beyond the hosts' own work is a count of these.
 */
final class ZkHopFloor {
    private static final long NOTIFY_TIMEOUT_SECONDS = 30;

    private ZkHopFloor() {
    }

    /** Floors, each in nanoseconds per sample. */
    record Samples(long[] write, long[] signal) {
    }

    static Samples measure(CuratorFramework writer, CuratorFramework watcher, String root, int samples) throws Exception {
        String base = root + "/hop-floor";
        writer.create().creatingParentsIfNeeded().forPath(base);
        long[] write = new long[samples];
        long[] signal = new long[samples];
        try {
            for (int i = 0; i < samples; i++) {
                String path = base + "/w" + i;
                long start = System.nanoTime();
                writer.create().withMode(CreateMode.EPHEMERAL).forPath(path);
                write[i] = System.nanoTime() - start;
                writer.delete().forPath(path);
            }
            for (int i = 0; i < samples; i++) {
                String path = base + "/s" + i;
                CountDownLatch created = new CountDownLatch(1);
                long[] notifiedAt = new long[1];
                Watcher onCreate = (WatchedEvent event) -> {
                    if (event.getType() == Watcher.Event.EventType.NodeCreated) {
                        notifiedAt[0] = System.nanoTime();
                        created.countDown();
                    }
                };
                if (watcher.checkExists().usingWatcher(onCreate).forPath(path) != null) {
                    throw new IllegalStateException(path + " exists before the floor created it");
                }
                long start = System.nanoTime();
                writer.create().withMode(CreateMode.EPHEMERAL).forPath(path);
                if (!created.await(NOTIFY_TIMEOUT_SECONDS, TimeUnit.SECONDS)) {
                    throw new IllegalStateException("no notification of " + path + " within " + NOTIFY_TIMEOUT_SECONDS + " s");
                }
                signal[i] = notifiedAt[0] - start;
                writer.delete().forPath(path);
            }
        } finally {
            writer.delete().deletingChildrenIfNeeded().forPath(base);
        }
        return new Samples(write, signal);
    }
}
