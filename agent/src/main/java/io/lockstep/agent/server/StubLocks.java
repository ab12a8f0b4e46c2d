package io.lockstep.agent.server;

import io.lockstep.proto.LockKind;
import io.lockstep.proto.LockRecord;
import io.lockstep.proto.LockType;
import io.lockstep.proto.StubFd;
import io.lockstep.proto.StubPlan;

import java.io.IOException;
import java.nio.file.DirectoryStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Optional;

/**
 * Whether a live stub still holds the locks its prepare rounds took, as the kernel shows them in
 * /proc/&lt;pid&gt;/fdinfo of the stub's own descriptors of each file: fdinfo names POSIX locks of
 * the process and flock/OFD locks of the open file description (where /proc/locks shows OFD locks
 * with pid -1). A lock can go while its stub lives (an NFS server that lost its lock state, a
 * process sharing the stub's open file description that unlocked it); the confirm round then
 * aborts instead of releasing a waiter before its holder.
 */
final class StubLocks {
    private StubLocks() {
    }

    /** One line per lock of {@code taken} that stub {@code pid} no longer holds, naming file, kind, type and range. */
    static List<String> missing(int pid, StubPlan plan, List<LockRecord> taken) {
        List<String> missing = new ArrayList<>();
        for (LockRecord lock : taken) {
            Optional<StubFd> fd = plan.getFdsList().stream().filter(f -> f.getFd() == lock.getFd()).findFirst();
            String path = fd.map(StubFd::getPath).orElse("fd " + lock.getFd());
            if (fd.isEmpty() || !held(pid, fd.get().getDev(), fd.get().getInode(), lock)) {
                missing.add(lock.getKind() + " " + lock.getType() + " lock on " + path + " [" + lock.getStart() + ".."
                        + (lock.getEnd() < 0 ? "EOF" : lock.getEnd()) + "] of stub pid " + pid + " (recorded pid "
                        + plan.getOldPid() + ") is no longer held");
            }
        }
        return missing;
    }

    private static boolean held(int pid, long dev, long inode, LockRecord lock) {
        Path fds = Path.of("/proc", Integer.toString(pid), "fd");
        try (DirectoryStream<Path> open = Files.newDirectoryStream(fds)) {
            for (Path fd : open) {
                Map<String, Object> id;
                List<String> lines;
                try {
                    boolean unchecked = dev == 0 && inode == 0;
                    if (unchecked && !fd.getFileName().toString().equals(Integer.toString(lock.getFd()))) {
                        continue;
                    }
                    id = Files.readAttributes(fd, "unix:dev,ino");
                    if (!unchecked && ((Long) id.get("dev") != dev || (Long) id.get("ino") != inode)) {
                        continue;
                    }
                    lines = Files.readAllLines(Path.of("/proc", Integer.toString(pid), "fdinfo",
                            fd.getFileName().toString()));
                } catch (IOException closedMeanwhile) {
                    continue;
                }
                if (lines.stream().anyMatch(line -> line.startsWith("lock:") && covers(line, lock))) {
                    return true;
                }
            }
        } catch (IOException gone) {
            return false; // the stub exited meanwhile: it holds nothing
        }
        return false;
    }

    /**
     * {@code lock:\t1: POSIX  ADVISORY  WRITE 1234 00:2a:5678 0 9}, granted (no "->"), of the
     * lock's kind and type and covering its range (the kernel merges a process's adjacent POSIX
     * locks of one type).
     */
    static boolean covers(String line, LockRecord lock) {
        String[] t = line.substring("lock:".length()).trim().split("\\s+");
        if (t.length < 8 || t[1].equals("->")) {
            return false;
        }
        String kind = switch (lock.getKind()) {
            case FLOCK -> "FLOCK";
            case OFD -> "OFDLCK";
            default -> "POSIX";
        };
        String type = lock.getType() == LockType.WRITE ? "WRITE" : "READ";
        if (!t[1].equals(kind) || !t[3].equals(type)) {
            return false;
        }
        if (lock.getKind() == LockKind.FLOCK) {
            return true;
        }
        long start = Long.parseLong(t[6]);
        long end = t[7].equals("EOF") ? -1 : Long.parseLong(t[7]);
        boolean coversEnd = end == -1 || lock.getEnd() != -1 && end >= lock.getEnd();
        return start <= lock.getStart() && coversEnd;
    }
}
