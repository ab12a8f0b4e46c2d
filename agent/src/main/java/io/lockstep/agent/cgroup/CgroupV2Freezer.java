package io.lockstep.agent.cgroup;

import java.io.IOException;
import java.nio.file.Path;

/**
 * Freezes a cgroup v2 group through cgroup.freeze and waits for "frozen 1" in cgroup.events.
 *
 * <p>The wait polls cgroup.events (every 50 µs for the first millisecond, then backing off to
 * 4 ms) rather than watching it with a WatchService (inotify on the cgroup directory, delivered
 * through the JDK's poller thread). Measured on this host (kernel 6.18, 2 vCPUs shared with
 * other builds, load average ~5.7; 200 alternating freezes each, median / 90th percentile from
 * the freeze write to seeing "frozen 1"): one idle process — poll 410 / 880 µs, watch 390 /
 * 1400 µs; one busy-looping process — poll 520 / 3000 µs, watch 1070 / 14600 µs; a JVM with 100
 * counting threads — poll 770 / 2900 µs, watch 780 / 11300 µs. Polling is as fast in the median
 * and far better in the tail, and needs no extra thread.
 */
final class CgroupV2Freezer extends CgroupFreezer {
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
