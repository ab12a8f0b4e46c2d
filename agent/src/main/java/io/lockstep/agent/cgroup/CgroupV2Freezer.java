package io.lockstep.agent.cgroup;

import java.io.IOException;
import java.nio.file.Path;
import java.time.Duration;
import java.time.Instant;

/**
 * Freezes a cgroup v2 group through cgroup.freeze and waits for "frozen 1" in cgroup.events.
 *
 * <p>The wait holds cgroup.events open: it re-reads it with pread, spinning for the first
 * {@value #SPIN_NANOS} ns (small groups are frozen by then), then sleeps in poll(2) until kernfs
 * signals that the file changed. An earlier version re-opened the file for every check and slept
 * 50 µs between checks, backing off to 4 ms: on this host (2 vCPUs under a load average of ~12)
 * a park of 50 µs took 160–260 µs and a Files.readString of cgroup.events ~100 µs, which put a
 * 10-thread freeze at 5–10× the raw write-and-spin floor (bench suite {@code freeze}); a
 * WatchService (inotify through the JDK's poller thread) was slower still in the tail. poll(2) on
 * the fd itself wakes this thread directly, with no granularity of its own.
 */
final class CgroupV2Freezer extends CgroupFreezer {
    /** How long to spin before sleeping in poll: about what a group of up to ~100 idle threads takes. */
    static final long SPIN_NANOS = 300_000;

    private final Path freeze;
    private final Path events;

    CgroupV2Freezer(CgroupV2Group group) {
        super(group);
        this.freeze = group.path.resolve("cgroup.freeze");
        this.events = group.path.resolve("cgroup.events");
    }

    @Override
    public Backend backend() {
        return Backend.CGROUP_V2;
    }

    @Override
    void requestFreeze() throws IOException {
        CgroupFiles.write(freeze, "1");
    }

    @Override
    boolean awaitFrozen(Instant deadline) throws IOException {
        long end = System.nanoTime() + Math.max(0, Duration.between(Instant.now(), deadline).toNanos());
        long spinEnd = System.nanoTime() + SPIN_NANOS;
        try (CgroupEvents watch = CgroupEvents.open(events)) {
            while (true) {
                // checked at least once, even past the deadline
                if (watch.frozen()) {
                    return true;
                }
                long now = System.nanoTime();
                if (now >= end) {
                    return false;
                }
                if (now < spinEnd) {
                    Thread.onSpinWait();
                } else {
                    watch.awaitChange(end - now);
                }
            }
        }
    }

    @Override
    public void thaw() throws IOException {
        CgroupFiles.write(freeze, "0");
    }

    @Override
    public boolean isFrozen() throws IOException {
        for (String line : CgroupFiles.read(events).split("\n")) {
            if (line.startsWith("frozen ")) {
                return line.equals("frozen 1");
            }
        }
        throw new IOException(events + " has no 'frozen' line: this kernel's cgroup v2 cannot freeze");
    }

    @Override
    boolean looksFrozen(TaskReport task) {
        // A v2-frozen task sleeps in do_freezer_trap (inlined into get_signal on many builds);
        // stopped and traced tasks count as frozen for v2.
        return task.state() == 'T' || task.state() == 't'
                || task.wchan().equals("do_freezer_trap") || task.wchan().equals("get_signal");
    }

    @Override
    public String thawScript() {
        return "echo 0 > " + CgroupFiles.shellQuote(freeze.toString());
    }
}
