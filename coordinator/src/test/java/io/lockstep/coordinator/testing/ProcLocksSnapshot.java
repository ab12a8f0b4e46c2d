package io.lockstep.coordinator.testing;

import io.lockstep.agent.proc.LockEntry;
import io.lockstep.agent.proc.ProcLocks;
import io.lockstep.proto.LockRecord;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Collection;
import java.util.List;
import java.util.Set;
import java.util.TreeSet;
import java.util.stream.Collectors;

/**
 * /proc/locks at one moment, reduced to keys comparable with manifest lock records: kind, type,
 * inode, range, held or waiting, and the owner pid where the kernel shows one (POSIX).
 */
public record ProcLocksSnapshot(List<LockEntry> entries) {
    /** Whether any process holds (not waits for) a lock on the file with this inode now. */
    public static boolean heldOnInode(long inode) throws IOException {
        return read().entries().stream().anyMatch(l -> l.inode() == inode && !l.waiter());
    }

    public static long inodeOf(Path file) throws IOException {
        return ((Number) Files.getAttribute(file, "unix:ino")).longValue();
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
        Set<Long> inodes = openInodes(pids);
        return entries.stream()
                .filter(e -> pids.contains(e.pid()) || (e.pid() == -1 && inodes.contains(e.inode())))
                .map(ProcLocksSnapshot::key)
                .collect(Collectors.toCollection(TreeSet::new));
    }

    /** The same, only for locks held (not waited for). */
    public Set<String> heldKeysOf(Collection<Integer> pids) throws IOException {
        return keysOf(pids).stream().filter(k -> k.contains(" held")).collect(Collectors.toCollection(TreeSet::new));
    }

    private static Set<Long> openInodes(Collection<Integer> pids) throws IOException {
        Set<Long> inodes = new TreeSet<>();
        for (int pid : pids) {
            Path fds = Path.of("/proc", Integer.toString(pid), "fd");
            if (!Files.isDirectory(fds)) {
                continue;
            }
            try (var links = Files.list(fds)) {
                for (Path link : (Iterable<Path>) links::iterator) {
                    try {
                        Object ino = Files.getAttribute(link, "unix:ino");
                        inodes.add(((Number) ino).longValue());
                    } catch (IOException | UnsupportedOperationException gone) {
                        // fd closed meanwhile or not a file: not ours to compare
                    }
                }
            }
        }
        return inodes;
    }
}
