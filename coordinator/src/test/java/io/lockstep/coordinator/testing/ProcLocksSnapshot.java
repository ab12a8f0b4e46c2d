package io.lockstep.coordinator.testing;

import io.lockstep.agent.proc.LockEntry;
import io.lockstep.agent.proc.ProcLocks;
import io.lockstep.proto.LockRecord;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Collection;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeSet;
import java.util.stream.Collectors;

/**
 * /proc/locks at one moment, reduced to keys comparable with manifest lock records: kind, type,
 * inode, range, held or waiting, and the owner pid where the kernel shows one (POSIX).
 */
public record ProcLocksSnapshot(List<LockEntry> entries) {
    /** Whether any process holds (not waits for) a lock on this file now. */
    public static boolean heldOn(FileId file) throws IOException {
        return read().entries().stream().anyMatch(l -> file.lockedBy(l) && !l.waiter());
    }

    /**
     * A file as /proc/locks names it: its device (major:minor, as {@link LockEntry#device()}) and
     * inode. An inode alone is not enough: every tmpfs numbers its files from 2 up, so another
     * test's lock on its own tmpfs shows the same inode as a file of ours (a fault schedule found
     * its killed group's file "still locked" by a benchmark's process).
     */
    public record FileId(String device, long inode) {
        public boolean lockedBy(LockEntry entry) {
            return entry.inode() == inode && entry.device().equals(device);
        }
    }

    public static FileId fileIdOf(Path file) throws IOException {
        return fileId(Files.readAttributes(file, "unix:dev,ino"));
    }

    /** st_dev split as the kernel's new_encode_dev does (major 12 bits + high, minor 8 bits + high). */
    private static FileId fileId(Map<String, Object> devAndIno) {
        long dev = ((Number) devAndIno.get("dev")).longValue();
        long major = ((dev >>> 8) & 0xfffL) | ((dev >>> 32) & ~0xfffL);
        long minor = (dev & 0xffL) | ((dev >>> 12) & ~0xffL);
        return new FileId(major + ":" + minor, ((Number) devAndIno.get("ino")).longValue());
    }

    public static ProcLocksSnapshot read() throws IOException {
        return new ProcLocksSnapshot(ProcLocks.read());
    }

    public static String key(int pid, LockRecord lock) {
        String kind = lock.getKind().name();
        return kind + " " + lock.getType().name() + " ino=" + lock.getInode() + " [" + lock.getStart() + "," + lock.getEnd()
                + "] " + (lock.getWaiting() ? "waiting" : "held") + (kind.equals("POSIX") ? " pid=" + pid : "");
    }

    public static String key(LockEntry entry) {
        String kind = switch (entry.kind()) {
            case "OFDLCK" -> "OFD";
            default -> entry.kind();
        };
        return kind + " " + entry.type() + " ino=" + entry.inode() + " [" + entry.start() + "," + entry.end() + "] "
                + (entry.waiter() ? "waiting" : "held") + (kind.equals("POSIX") ? " pid=" + entry.pid() : "");
    }

    public List<LockEntry> waitingOf(int pid) {
        return entries.stream().filter(e -> e.waiter() && e.pid() == pid).toList();
    }

    public List<LockEntry> heldBy(int pid) {
        return entries.stream().filter(e -> !e.waiter() && e.pid() == pid).toList();
    }

    /** Keys of the locks on files these processes have open (covers OFD locks, whose pid is -1). */
    public Set<String> keysOf(Collection<Integer> pids) throws IOException {
        Set<FileId> open = openFiles(pids);
        return entries.stream()
                .filter(e -> pids.contains(e.pid()) || (e.pid() == -1 && open.stream().anyMatch(f -> f.lockedBy(e))))
                .map(ProcLocksSnapshot::key)
                .collect(Collectors.toCollection(TreeSet::new));
    }

    /** The same, only for locks held (not waited for). */
    public Set<String> heldKeysOf(Collection<Integer> pids) throws IOException {
        return keysOf(pids).stream().filter(k -> k.contains(" held")).collect(Collectors.toCollection(TreeSet::new));
    }

    private static Set<FileId> openFiles(Collection<Integer> pids) throws IOException {
        Set<FileId> files = new HashSet<>();
        for (int pid : pids) {
            Path fds = Path.of("/proc", Integer.toString(pid), "fd");
            if (!Files.isDirectory(fds)) {
                continue;
            }
            try (var links = Files.list(fds)) {
                for (Path link : (Iterable<Path>) links::iterator) {
                    try {
                        files.add(fileId(Files.readAttributes(link, "unix:dev,ino")));
                    } catch (IOException | UnsupportedOperationException gone) {
                        // fd closed meanwhile or not a file: not ours to compare
                    }
                }
            }
        }
        return files;
    }
}
