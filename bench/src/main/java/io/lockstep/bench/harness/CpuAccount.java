package io.lockstep.bench.harness;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Optional;
import java.util.UUID;

/**
 * The CPU time one process (all its threads, and the children it starts later) uses, read from a
 * cpuacct group of its own on the cgroup v1 hierarchy ({@code cpuacct.usage}, nanoseconds): the
 * same count whatever else runs on the machine, where the process's wall time is not. On a host
 * without that hierarchy there is none ({@link #open} is empty) and the bench leaves the figure out.
 * {@link #close} moves its processes back to the hierarchy's root and removes the group.
 */
public final class CpuAccount implements AutoCloseable {
    private static final Path HIERARCHY = Path.of("/sys/fs/cgroup/cpuacct");

    private final Path group;

    private CpuAccount(Path group) {
        this.group = group;
    }

    /** Moves {@code pid} into a new group {@code lockstep-bench-<what>-<uuid>}; empty without cgroup v1 cpuacct. */
    public static Optional<CpuAccount> open(String what, long pid) throws IOException {
        if (!Files.isRegularFile(HIERARCHY.resolve("cpuacct.usage"))) {
            return Optional.empty();
        }
        removeLeftGroups();
        Path group = HIERARCHY.resolve("lockstep-bench-" + what + "-" + UUID.randomUUID().toString().substring(0, 8));
        Files.createDirectory(group);
        try {
            write(group.resolve("cgroup.procs"), pid);
        } catch (IOException e) {
            Files.deleteIfExists(group);
            throw e;
        }
        return Optional.of(new CpuAccount(group));
    }

    /** Groups an earlier bench left (stopped before its close): removed once empty; one still in use stays. */
    private static void removeLeftGroups() throws IOException {
        try (java.nio.file.DirectoryStream<Path> left = Files.newDirectoryStream(HIERARCHY, "lockstep-bench-*")) {
            for (Path group : left) {
                if (Files.readString(group.resolve("cgroup.procs"), StandardCharsets.US_ASCII).isBlank()) {
                    Files.deleteIfExists(group);
                }
            }
        }
    }

    /** The machine's CPU time in all, every process counted: the hierarchy root's usage. */
    public static Optional<Long> machineNanos() throws IOException {
        Path usage = HIERARCHY.resolve("cpuacct.usage");
        return Files.isRegularFile(usage) ? Optional.of(read(usage)) : Optional.empty();
    }

    /** CPU time used by the group's processes since it was made. */
    public long nanos() throws IOException {
        return read(group.resolve("cpuacct.usage"));
    }

    /** Moves every process of the group (the one given and children it started) back to the root, and removes the group. */
    @Override
    public void close() throws IOException {
        for (String line : Files.readAllLines(group.resolve("cgroup.procs"), StandardCharsets.US_ASCII)) {
            long member = Long.parseLong(line.trim());
            try {
                write(HIERARCHY.resolve("cgroup.procs"), member);
            } catch (IOException e) {
                // it may have ended since; while it is there the group cannot be removed
                if (ProcessHandle.of(member).isPresent()) {
                    throw new IOException("cannot move pid " + member + " out of " + group + ": " + e.getMessage(), e);
                }
            }
        }
        Files.deleteIfExists(group);
    }

    private static long read(Path file) throws IOException {
        return Long.parseLong(Files.readString(file, StandardCharsets.US_ASCII).trim());
    }

    private static void write(Path file, long pid) throws IOException {
        Files.writeString(file, Long.toString(pid), StandardCharsets.US_ASCII);
    }
}
