package io.lockstep.agent.capture;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.tuple;
import static org.awaitility.Awaitility.await;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import io.lockstep.agent.proc.MountTable;
import io.lockstep.agent.proc.ProcLocks;
import io.lockstep.agent.testing.Child;
import io.lockstep.proto.LockKind;
import io.lockstep.proto.LockRecord;
import io.lockstep.proto.LockType;
import io.lockstep.proto.Manifest;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.UUID;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Capture as the agent runs it: inside a frozen cgroup (v2 cgroup.freeze). Freezing interrupts
 * blocked lock requests, so their waiter entries leave /proc/locks; the capture must still find
 * them through the blocked syscall.
 */
class FrozenCaptureTest {
    @TempDir
    Path dir;

    private static Path cgroup2Root() throws IOException {
        return MountTable.read("self").entries().stream()
                .filter(m -> m.fsType().equals("cgroup2"))
                .map(m -> Path.of(m.mountPoint()))
                .findFirst().orElse(null);
    }

    @Test
    void waitersOfAFrozenGroupAreCapturedThoughTheKernelHidesThemFromProcLocks() throws Exception {
        Path root = cgroup2Root();
        assumeTrue(root != null && Files.isWritable(root.resolve("cgroup.procs")), "needs a writable cgroup v2 hierarchy (root)");
        Path file = Files.write(dir.resolve("f"), new byte[100]);
        long inode = (Long) Files.getAttribute(file, "unix:ino");
        Path group = Files.createDirectory(root.resolve("lockstep-capture-test-" + UUID.randomUUID()));
        Child holder = null;
        Child waiter = null;
        try {
            holder = Child.start("posix-write", file.toString(), "0", "10", "ofd-write", file.toString(), "50", "0",
                    "flock-ex", file.toString());
            holder.awaitLine("READY");
            waiter = Child.start("posix-wait-read", file.toString(), "5", "1", "ofd-wait-read", file.toString(), "60", "5",
                    "flock-wait-sh", file.toString());
            waiter.awaitLine("READY");
            await("three waiters on " + file).atMost(Duration.ofSeconds(30))
                    .until(() -> waitersOn(inode) == 3);
            Files.writeString(group.resolve("cgroup.procs"), Integer.toString(holder.pid()));
            Files.writeString(group.resolve("cgroup.procs"), Integer.toString(waiter.pid()));
            Files.writeString(group.resolve("cgroup.freeze"), "1");
            await("cgroup " + group + " frozen").atMost(Duration.ofSeconds(30))
                    .until(() -> Files.readString(group.resolve("cgroup.events")).contains("frozen 1"));
            assertThat(waitersOn(inode)).as("waiters in /proc/locks while frozen").isZero();

            Manifest m = new GroupCapturer().capture(new CaptureScope("g", "h", "op", 1, "cgroup-v2", false,
                    List.of(holder.pid(), waiter.pid()), Map.of()));

            int w = waiter.pid();
            List<LockRecord> waits = m.getProcessesList().stream().filter(p -> p.getPid() == w)
                    .flatMap(p -> p.getLocksList().stream()).toList();
            assertThat(waits).allMatch(LockRecord::getWaiting).allMatch(l -> l.getInode() == inode && l.getOwnerPid() == w)
                    .extracting(LockRecord::getKind, LockRecord::getType, LockRecord::getStart, LockRecord::getEnd, LockRecord::getFd)
                    .containsExactlyInAnyOrder(
                            tuple(LockKind.POSIX, LockType.READ, 5L, 5L, waiter.fdOf("posix-wait-read", 0)),
                            tuple(LockKind.OFD, LockType.READ, 60L, 64L, waiter.fdOf("ofd-wait-read", 0)),
                            tuple(LockKind.FLOCK, LockType.READ, 0L, -1L, waiter.fdOf("flock-wait-sh", 0)));
            assertThat(CaptureStats.of(m).heldLocks()).isEqualTo(3);
            assertThat(CaptureStats.of(m).waitingLocks()).isEqualTo(3);
        } finally {
            // thaw first: a frozen task cannot finish dying under every freezer
            Files.writeString(group.resolve("cgroup.freeze"), "0");
            if (holder != null) {
                holder.kill();
            }
            if (waiter != null) {
                waiter.kill();
            }
            await("cgroup " + group + " empty").atMost(Duration.ofSeconds(30))
                    .until(() -> Files.readString(group.resolve("cgroup.procs")).isBlank());
            Files.delete(group);
        }
    }

    private static long waitersOn(long inode) throws IOException {
        return ProcLocks.read().stream().filter(e -> e.waiter() && e.inode() == inode).count();
    }
}
