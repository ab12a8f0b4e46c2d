package io.lockstep.bench.checkpoint;

import io.lockstep.bench.harness.CpuAccount;
import io.lockstep.bench.harness.Samples;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;

/**
 * The CPU time spent while a checkpoint's hosts move through its window: from the op's opening to
 * the end of its thaw phase (the phases freeze, capture and thaw), by the JVM of the agents and the
 * coordinator (and, of it, by its JIT compiler threads), by the ZooKeeper ensemble's JVM and by the
 * whole machine. Set against the wall time
 * of the same span it says how many of the machine's cores that work kept busy: near all of them,
 * the window is the time these cores need for N hosts' work, which a cluster does on N hosts' own.
 */
final class WindowCpu implements AutoCloseable {
    private final Optional<CpuAccount> agents;
    private final Optional<CpuAccount> ensemble;
    private final List<long[]> spans = new ArrayList<>();
    /** Every thread id of this JVM looked at (a thread's name is read once), and its compiler threads' last time on CPU. */
    private final java.util.Set<Long> threadsSeen = new java.util.HashSet<>();
    private final java.util.Map<Long, Long> compilerNanos = new java.util.HashMap<>();
    private long endedCompilerNanos;

    private WindowCpu(Optional<CpuAccount> agents, Optional<CpuAccount> ensemble) {
        this.agents = agents;
        this.ensemble = ensemble;
    }

    static WindowCpu open(long ensemblePid) throws IOException {
        Optional<CpuAccount> agents = CpuAccount.open("agents", ProcessHandle.current().pid());
        try {
            return new WindowCpu(agents, agents.isPresent() ? CpuAccount.open("ensemble", ensemblePid) : Optional.empty());
        } catch (IOException e) {
            if (agents.isPresent()) {
                agents.get().close();
            }
            throw e;
        }
    }

    /** The counters now: wall, agents' JVM, ensemble, machine, this JVM's JIT compiler threads (ns); empty without cpuacct. */
    Optional<long[]> sample() {
        if (agents.isEmpty() || ensemble.isEmpty()) {
            return Optional.empty();
        }
        try {
            return Optional.of(new long[] {System.nanoTime(), agents.get().nanos(), ensemble.get().nanos(),
                    CpuAccount.machineNanos().orElse(0L), compilerNanos()});
        } catch (IOException e) {
            throw new IllegalStateException("cannot read cpuacct.usage: " + e.getMessage(), e);
        }
    }

    /**
     * Time on CPU of HotSpot's compiler threads ("C1 CompilerThread0", …; comm keeps 15 characters),
     * from each one's schedstat. HotSpot starts and stops compiler threads as its queue grows and
     * drains: an ended one keeps counting with the last time read of it.
     */
    private long compilerNanos() throws IOException {
        java.util.Set<Long> listed = new java.util.HashSet<>();
        try (java.nio.file.DirectoryStream<Path> entries = Files.newDirectoryStream(Path.of("/proc/self/task"))) {
            for (Path task : entries) {
                long tid = Long.parseLong(task.getFileName().toString());
                try {
                    if (threadsSeen.add(tid) && Files.readString(task.resolve("comm")).matches("C\\d CompilerThre\\s*")) {
                        compilerNanos.put(tid, 0L);
                    }
                    if (compilerNanos.containsKey(tid)) {
                        compilerNanos.put(tid, Long.parseLong(Files.readString(task.resolve("schedstat")).split(" ")[0]));
                        listed.add(tid);
                    }
                } catch (java.nio.file.NoSuchFileException ended) {
                    // counted below with its last time read
                }
            }
        }
        compilerNanos.keySet().removeIf(tid -> {
            if (listed.contains(tid)) {
                return false;
            }
            endedCompilerNanos += compilerNanos.get(tid);
            return true;
        });
        return endedCompilerNanos + compilerNanos.values().stream().mapToLong(Long::longValue).sum();
    }

    /** Records one checkpoint's span between two samples. */
    void add(Optional<long[]> from, Optional<long[]> to) {
        if (from.isPresent() && to.isPresent()) {
            long[] span = new long[5];
            for (int i = 0; i < span.length; i++) {
                span[i] = to.get()[i] - from.get()[i];
            }
            spans.add(span);
        }
    }

    /** Medians over the spans recorded since the last call, in ms; empty when none was. */
    Optional<Summary> summarizeAndReset() {
        if (spans.isEmpty()) {
            return Optional.empty();
        }
        Summary summary = new Summary(median(0), median(1), median(4), median(2), median(3));
        spans.clear();
        return Optional.of(summary);
    }

    record Summary(double wallMillis, double agentsCpuMillis, double jitCpuMillis, double ensembleCpuMillis,
                   double machineCpuMillis) {
        double busyCores() {
            return machineCpuMillis / wallMillis;
        }

        String note(int agentCount) {
            return String.format(java.util.Locale.ROOT, "from the op's opening to the end of its thaw phase (medians):"
                            + " %.1f ms wall; CPU of the agents' and coordinator's JVM %.1f ms (of it its JIT compiler threads"
                            + " %.1f ms; the rest %.2f ms a host), of the ZooKeeper ensemble's JVM %.1f ms, of the whole machine %.1f ms"
                            + " (cpuacct): %.2f of %d cores busy",
                    wallMillis, agentsCpuMillis, jitCpuMillis, (agentsCpuMillis - jitCpuMillis) / agentCount, ensembleCpuMillis, machineCpuMillis,
                    busyCores(), Runtime.getRuntime().availableProcessors());
        }
    }

    private double median(int column) {
        long[] values = spans.stream().mapToLong(span -> span[column]).toArray();
        return new Samples(values).medianMillis();
    }

    @Override
    public void close() throws IOException {
        try {
            if (ensemble.isPresent()) {
                ensemble.get().close();
            }
        } finally {
            if (agents.isPresent()) {
                agents.get().close();
            }
        }
    }
}
