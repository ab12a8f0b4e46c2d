package io.lockstep.agent.server;

import io.lockstep.proto.HandOver;
import io.lockstep.proto.LockKind;
import io.lockstep.proto.LockRecord;
import io.lockstep.proto.LockType;

import java.io.IOException;
import java.nio.file.DirectoryStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.locks.LockSupport;

/**
 * Watches restarted programs take their handed-over flock/OFD locks again: a lock counts as
 * taken when one of the program's own descriptors of the file shows it in its
 * /proc/&lt;pid&gt;/fdinfo (which names flock and OFD locks by the open file, where /proc/locks
 * shows OFD locks with pid -1). Polls with a back-off of 1-50 ms up to the hand-over timeout.
 */
final class HandOverCheck {
    private static final long FIRST_BACKOFF_NANOS = TimeUnit.MILLISECONDS.toNanos(1);
    private static final long MAX_BACKOFF_NANOS = TimeUnit.MILLISECONDS.toNanos(50);

    /** One lock to see again: on the file (st_dev, st_ino) at {@code path} on this host. */
    record Pending(HandOver.Builder report, long dev, long inode) {
    }

    private HandOverCheck() {
    }

    /** Waits until every pending lock is taken again or the timeout passed; reports each. */
    static List<HandOver> await(List<Pending> pending, Duration timeout) {
        long deadline = System.nanoTime() + timeout.toNanos();
        List<Pending> left = new ArrayList<>(pending);
        List<HandOver> done = new ArrayList<>();
        long backoff = FIRST_BACKOFF_NANOS;
        while (true) {
            left.removeIf(p -> {
                if (takenAgain(p)) {
                    done.add(p.report().setTakenAgain(true).build());
                    return true;
                }
                return false;
            });
            long remaining = deadline - System.nanoTime();
            if (left.isEmpty() || remaining <= 0) {
                break;
            }
            LockSupport.parkNanos(Math.min(backoff, remaining));
            backoff = Math.min(backoff * 2, MAX_BACKOFF_NANOS);
        }
        left.forEach(p -> done.add(p.report().setTakenAgain(false).build()));
        return done;
    }

    private static boolean takenAgain(Pending p) {
        int pid = p.report().getNewPid();
        LockRecord lock = p.report().getLock();
        Path fds = Path.of("/proc", Integer.toString(pid), "fd");
        try (DirectoryStream<Path> open = Files.newDirectoryStream(fds)) {
            for (Path fd : open) {
                Map<String, Object> id;
                try {
                    id = Files.readAttributes(fd, "unix:dev,ino");
                } catch (IOException closedMeanwhile) {
                    continue;
                }
                if ((Long) id.get("dev") != p.dev() || (Long) id.get("ino") != p.inode()) {
                    continue;
                }
                Path info = Path.of("/proc", Integer.toString(pid), "fdinfo", fd.getFileName().toString());
                List<String> lines;
                try {
                    lines = Files.readAllLines(info);
                } catch (IOException closedMeanwhile) {
                    continue;
                }
                for (String line : lines) {
                    if (line.startsWith("lock:") && matches(line, lock)) {
                        return true;
                    }
                }
            }
        } catch (IOException | RuntimeException gone) {
            return false; // the program exited, or its fds cannot be read yet (exec in progress)
        }
        return false;
    }

    /** {@code lock:\t1: FLOCK  ADVISORY  WRITE 1234 fd:01:5678 0 EOF}, granted (no "->"). */
    static boolean matches(String line, LockRecord lock) {
        String[] t = line.substring("lock:".length()).trim().split("\\s+");
        if (t.length < 8 || t[1].equals("->")) {
            return false;
        }
        String kind = lock.getKind() == LockKind.FLOCK ? "FLOCK" : "OFDLCK";
        String type = lock.getType() == LockType.WRITE ? "WRITE" : "READ";
        if (!t[1].equals(kind) || !t[3].equals(type)) {
            return false;
        }
        if (lock.getKind() == LockKind.FLOCK) {
            return true;
        }
        long end = t[7].equals("EOF") ? -1 : Long.parseLong(t[7]);
        return Long.parseLong(t[6]) == lock.getStart() && end == lock.getEnd();
    }
}
