package io.lockstep.bench.checkpoint;

import io.lockstep.bench.count.RpcCounter;
import io.lockstep.bench.count.ZkRequestCounter;

import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;

/**
 * ZooKeeper requests and agent RPCs of one checkpoint: the median over the runs, each counted
 * from its start until the agents' clean-up after it is done.
 */
record OpCounts(double zkWrites, double zkReads, Map<String, Long> zkByKind, double rpcs, Map<String, Long> rpcsByMethod,
                int intervals) {

    static OpCounts between(List<ZkRequestCounter.Counts> zkAt, List<Map<String, Long>> rpcAt) {
        if (zkAt.size() < 2) {
            throw new IllegalArgumentException("counting needs snapshots before and after a run, got " + zkAt.size());
        }
        List<Long> writes = new ArrayList<>();
        List<Long> reads = new ArrayList<>();
        List<Long> rpcs = new ArrayList<>();
        List<Map<String, Long>> byMethod = new ArrayList<>();
        List<Map<String, Long>> byKind = new ArrayList<>();
        for (int i = 1; i < zkAt.size(); i++) {
            ZkRequestCounter.Counts zk = zkAt.get(i).minus(zkAt.get(i - 1));
            writes.add(zk.writes());
            reads.add(zk.reads());
            byKind.add(zk.byKind());
            Map<String, Long> calls = RpcCounter.minus(rpcAt.get(i), rpcAt.get(i - 1));
            rpcs.add(calls.values().stream().mapToLong(Long::longValue).sum());
            byMethod.add(calls);
        }
        // the breakdowns of the intervals whose totals are the medians
        int rpcMedian = rpcs.indexOf(median(rpcs));
        int zkMedian = writes.indexOf(median(writes));
        return new OpCounts(median(writes), median(reads), new TreeMap<>(byKind.get(zkMedian)), median(rpcs),
                new TreeMap<>(byMethod.get(rpcMedian)), writes.size());
    }

    String notes() {
        return "median of " + intervals + " checkpoint(s), counted on the clients";
    }

    private static long median(List<Long> values) {
        return values.stream().sorted().toList().get((values.size() - 1) / 2);
    }
}
