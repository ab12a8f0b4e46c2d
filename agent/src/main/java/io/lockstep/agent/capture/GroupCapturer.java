package io.lockstep.agent.capture;

import io.lockstep.agent.nativeio.Native;
import io.lockstep.agent.proc.BlockedLockCall;
import io.lockstep.agent.proc.DevT;
import io.lockstep.agent.proc.FdInfo;
import io.lockstep.agent.proc.LockEntry;
import io.lockstep.agent.proc.MountTable;
import io.lockstep.agent.proc.ProcFileReader;
import io.lockstep.agent.proc.ProcLocks;
import io.lockstep.agent.proc.ServerNames;
import io.lockstep.names.RawNames;
import io.lockstep.proto.FdKind;
import io.lockstep.proto.FdRecord;
import io.lockstep.proto.FileIdentity;
import io.lockstep.proto.LockKind;
import io.lockstep.proto.LockRecord;
import io.lockstep.proto.LockType;
import io.lockstep.proto.Manifest;
import io.lockstep.proto.ProcessRecord;
import io.lockstep.proto.RestartSpec;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.FileTime;
import java.time.Clock;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Collections;
import java.util.Comparator;
import java.util.HashMap;
import java.util.HashSet;
import java.util.IdentityHashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Set;
import java.util.TreeSet;
import java.util.concurrent.TimeUnit;
import java.util.stream.Stream;

/**
 * Records one host's part of a group: per process its ids, argv, cwd, threads, open files and
 * every lock it holds or waits for, with portable file identities. Meant to run while the group
 * is frozen, so that nothing read here can change between two reads.
 *
 * <p>Where each lock comes from:
 * <ul>
 *   <li>POSIX held: /proc/locks by owner pid; the fd is the one whose fdinfo lists the lock
 *       (the fd it was taken through), else any fd of the process on the same device and inode.
 *   <li>OFD and FLOCK held: fdinfo {@code lock:} lines, which name the open file description,
 *       hence the fd ({@code /proc/locks} shows OFD locks with pid -1).
 *   <li>Waiting, all kinds: the blocked syscall of each thread ({@link BlockedLockCall}), since
 *       fdinfo never lists waiters and a frozen waiter is not in /proc/locks. When not frozen,
 *       /proc/locks waiter entries of the group's pids that no blocked call explains are recorded
 *       too; an OFD waiter (pid -1) that no group thread explains cannot be attributed and becomes
 *       a warning when it is on a file the group has open.
 *   <li>LEASE: /proc/locks by pid, recorded with a warning (not restorable).
 * </ul>
 * Locks of processes outside the scope are ignored.
 */
public final class GroupCapturer {
    private static final int O_CLOEXEC = 02000000;
    private static final int S_IFMT = 0170000;
    /** Reads of /proc/locks before recording from a torn one (see {@link #consistentTable}). */
    private static final int TABLE_READ_ATTEMPTS = 3;

    private final Clock clock;
    private final Set<String> networkFsTypes;
    private final ServerNames serverNames;

    public GroupCapturer() {
        this(Clock.systemUTC());
    }

    public GroupCapturer(Clock clock) {
        this(clock, Set.of(), ServerNames.system());
    }

    /**
     * @param networkFsTypes file system types counted as network exports besides nfs and nfs4
     * @param serverNames resolves network mounts' servers, whose addresses identities record
     */
    public GroupCapturer(Clock clock, Set<String> networkFsTypes, ServerNames serverNames) {
        this.clock = clock;
        this.networkFsTypes = Set.copyOf(networkFsTypes);
        this.serverNames = serverNames;
    }

    /** One open fd as read from /proc, with what lock attribution needs. */
    private record OpenFd(int fd, FdInfo info, String device, long inode, long size, FdRecord record) {
        FileKey file() {
            int colon = device.indexOf(':');
            return new FileKey(Integer.parseInt(device.substring(0, colon)), Integer.parseInt(device.substring(colon + 1)),
                    inode);
        }
    }

    /** A file as /proc/locks names it. */
    private record FileKey(int major, int minor, long inode) {
        static FileKey of(LockEntry e) {
            return new FileKey(e.major(), e.minor(), e.inode());
        }
    }

    /**
     * One process's snapshot, indexed for lock attribution: a capture attributes every lock of
     * /proc/locks to an fd, and scanning the fds (and their fdinfo locks) per lock made a capture
     * of 50k locks take minutes.
     */
    private static final class ProcessSnapshot {
        private final int pid;
        private final ProcessRecord.Builder record;
        private final List<OpenFd> fds;
        private final List<BlockedLockCall> blocked;
        private final Map<Integer, OpenFd> byNumber = new HashMap<>();
        private final Map<LockKey, OpenFd> byListedLock = new HashMap<>();
        private final Map<FileKey, OpenFd> byFile = new HashMap<>();

        ProcessSnapshot(int pid, ProcessRecord.Builder record, List<OpenFd> fds, List<BlockedLockCall> blocked) {
            this.pid = pid;
            this.record = record;
            this.fds = fds;
            this.blocked = blocked;
            // fds come in ascending order: putIfAbsent keeps the lowest
            for (OpenFd fd : fds) {
                byNumber.put(fd.fd(), fd);
                byFile.putIfAbsent(fd.file(), fd);
                for (LockEntry listed : fd.info().locks()) {
                    byListedLock.putIfAbsent(LockKey.of(listed), fd);
                }
            }
        }

        int pid() {
            return pid;
        }

        ProcessRecord.Builder record() {
            return record;
        }

        List<OpenFd> fds() {
            return fds;
        }

        List<BlockedLockCall> blocked() {
            return blocked;
        }

        Optional<OpenFd> fd(int number) {
            return Optional.ofNullable(byNumber.get(number));
        }

        boolean hasOpen(FileKey file) {
            return byFile.containsKey(file);
        }

        /** The lowest fd on the lock's file, preferring one whose fdinfo lists the lock itself. */
        Optional<OpenFd> fdFor(LockEntry lock) {
            OpenFd listing = byListedLock.get(LockKey.of(lock));
            return Optional.ofNullable(listing != null ? listing : byFile.get(FileKey.of(lock)));
        }
    }

    /** A held OFD or FLOCK lock as one fd's fdinfo shows it. */
    private record Sighting(ProcessSnapshot process, OpenFd fd, LockEntry lock) {
    }

    /** A lock without its owner and ordinal: what two sightings of one lock have in common. */
    private record LockKey(String kind, String type, int major, int minor, long inode, long start, long end) {
        private static final long GOLDEN = 0x9E3779B97F4A7C15L;

        static LockKey of(LockEntry e) {
            return new LockKey(e.kind(), e.type(), e.major(), e.minor(), e.inode(), e.start(), e.end());
        }

        /**
         * Mixes every bit in: the record's default (31·h + field) of many one-byte locks at even
         * offsets leaves the low bits zero, which piled 50k keys into a few HashMap bins.
         */
        @Override
        public int hashCode() {
            long h = (inode * GOLDEN) ^ start;
            h = (h * GOLDEN) ^ end;
            h = (h * GOLDEN) ^ (((long) major << 32) | (minor & 0xffffffffL));
            h = (h * GOLDEN) ^ (kind.hashCode() * 31L + type.hashCode());
            h *= GOLDEN;
            return (int) (h ^ (h >>> 32));
        }
    }

    /** A POSIX lock with its owner: unique while the owner holds it, since an owner's locks never overlap. */
    private record OwnedLock(int pid, LockKey lock) {
        static OwnedLock of(LockEntry e) {
            return new OwnedLock(e.pid(), LockKey.of(e));
        }
    }

    public Manifest capture(CaptureScope scope) throws CaptureException {
        List<LockEntry> table = readTable();
        List<String> warnings = new ArrayList<>();
        List<ProcessSnapshot> processes = new ArrayList<>();
        ProcFileReader reader = new ProcFileReader();
        Map<String, PortableIdentities> idsByView = new HashMap<>();
        Set<String> agentOutputs = agentOutputs(scope);
        for (int pid : new TreeSet<>(scope.pids())) {
            processes.add(snapshot(pid, scope, agentOutputs, reader, idsByView, warnings));
        }
        table = consistentTable(table, processes, warnings);
        Map<Integer, ProcessSnapshot> byPid = new LinkedHashMap<>();
        processes.forEach(p -> byPid.put(p.pid(), p));

        recordFdinfoLocks(processes, table, warnings);
        recordTableLocks(byPid, table, warnings);
        recordWaiters(processes, byPid, table, warnings);

        Manifest.Builder manifest = Manifest.newBuilder()
                .setGroup(scope.group())
                .setHostId(scope.hostId())
                .setOpId(scope.opId())
                .setEpoch(scope.epoch())
                .setCapturedAtUnixMs(clock.millis())
                .setHostname(hostname())
                .setFreezer(scope.freezer())
                .setDegraded(scope.degraded());
        for (ProcessSnapshot p : processes) {
            if (!p.record().hasRestart()) {
                warnings.add("pid " + p.pid() + " (" + p.record().getComm() + ") has no restart spec (not started"
                        + " through the agent): it cannot be relaunched by the exec engine; it holds "
                        + p.record().getLocksList().stream().filter(l -> !l.getWaiting()).count() + " lock(s)");
            }
            manifest.addProcesses(p.record());
        }
        return manifest.addAllWarnings(warnings).build();
    }

    private static List<LockEntry> readTable() throws CaptureException {
        try {
            return ProcLocks.read();
        } catch (IOException | IllegalArgumentException e) {
            throw new CaptureException(0, "cannot read /proc/locks: " + e.getMessage(), e);
        }
    }

    /**
     * /proc/locks as it is while the group is frozen. The kernel prints it a few KiB per read(2)
     * and finds where to go on by counting entries again, so a lock taken or dropped anywhere on
     * the host between two of those reads shifts the rest: a line is printed twice or skipped.
     * With 50k group locks (3 MB) a busy host does that often. The group's POSIX locks are also
     * in its fdinfo, each fd printed in one go; when the table lacks one of them or repeats one,
     * it is read again.
     */
    private static List<LockEntry> consistentTable(List<LockEntry> table, List<ProcessSnapshot> processes,
                                                   List<String> warnings) throws CaptureException {
        Set<OwnedLock> expected = new HashSet<>();
        for (ProcessSnapshot p : processes) {
            for (OpenFd fd : p.fds()) {
                for (LockEntry listed : fd.info().locks()) {
                    if (listed.kind().equals("POSIX")) {
                        expected.add(OwnedLock.of(listed));
                    }
                }
            }
        }
        for (int attempt = 1; ; attempt++) {
            Optional<String> problem = tornRead(table, expected);
            if (problem.isEmpty()) {
                return table;
            }
            if (attempt == TABLE_READ_ATTEMPTS) {
                warnings.add("/proc/locks changed under every one of " + attempt + " reads (" + problem.get()
                        + "); recorded from the last one");
                return table;
            }
            table = readTable();
        }
    }

    /** Why {@code table} cannot be a whole read: a group POSIX lock missing or printed twice. */
    private static Optional<String> tornRead(List<LockEntry> table, Set<OwnedLock> expected) {
        Set<OwnedLock> seen = new HashSet<>();
        for (LockEntry e : table) {
            if (!e.waiter() && e.kind().equals("POSIX")) {
                OwnedLock owned = OwnedLock.of(e);
                if (expected.contains(owned) && !seen.add(owned)) {
                    return Optional.of("pid " + e.pid() + " " + describe(e) + " listed twice");
                }
            }
        }
        if (seen.size() < expected.size()) {
            return Optional.of((expected.size() - seen.size()) + " POSIX lock(s) of the group's fdinfo missing");
        }
        return Optional.empty();
    }

    // ---- processes and fds ----

    /**
     * @param idsByView identities by mount namespace and root, filled as processes are read: the
     *     processes of a group mostly share one, and parsing its mountinfo once per process was
     *     a fifth of a capture
     */
    private ProcessSnapshot snapshot(int pid, CaptureScope scope, Set<String> agentOutputs, ProcFileReader reader,
                                     Map<String, PortableIdentities> idsByView, List<String> warnings)
            throws CaptureException {
        Path dir = Path.of("/proc", Integer.toString(pid));
        Path current = dir;
        try {
            current = dir.resolve("status");
            String status = reader.read(current);
            ProcessRecord.Builder record = ProcessRecord.newBuilder()
                    .setPid(pid)
                    .setPpid(Integer.parseInt(statusField(status, "PPid").orElse("0").trim()))
                    .setUid(Integer.parseUnsignedInt(firstField(status, "Uid", current)))
                    .setGid(Integer.parseUnsignedInt(firstField(status, "Gid", current)))
                    .setComm(commOf(status, current));
            current = dir.resolve("cmdline");
            record.addAllArgv(splitNul(reader.read(current)));
            current = dir.resolve("ns").resolve("mnt");
            // a process's mountinfo depends on its mount namespace and, below that, on its root (chroot)
            String view = Files.readSymbolicLink(current) + " " + Files.readSymbolicLink(dir.resolve("root"));
            current = dir.resolve("mountinfo");
            PortableIdentities ids = idsByView.get(view);
            if (ids == null) {
                ids = new PortableIdentities(MountTable.read(Integer.toString(pid)).withNetworkTypes(networkFsTypes),
                        scope.hostId(), serverNames);
                idsByView.put(view, ids);
            }
            current = dir.resolve("cwd");
            String cwd = Native.readlink(current.toString()); // names are bytes: not through the JVM's charset
            record.setCwd(cwd);
            identify(ids, cwd, -1, current, warnings, "pid " + pid + " cwd").ifPresent(record::setCwdIdentity);
            current = dir.resolve("task");
            List<Integer> tids = listNumbers(current);
            record.addAllTids(tids);
            Optional.ofNullable(scope.restartSpecs().get(pid)).ifPresent(record::setRestart);

            current = dir.resolve("fd");
            List<OpenFd> fds = new ArrayList<>();
            for (int fd : listNumbers(current)) {
                current = dir.resolve("fd").resolve(Integer.toString(fd));
                OpenFd open = readFd(pid, fd, ids, reader, warnings);
                fds.add(open);
                record.addFds(markAgentOutput(open.record(), agentOutputs));
            }
            List<BlockedLockCall> blocked = new ArrayList<>();
            for (int tid : tids) {
                current = dir.resolve("task").resolve(Integer.toString(tid)).resolve("syscall");
                try {
                    BlockedLockCall.read(pid, tid, reader).ifPresent(blocked::add);
                } catch (IOException e) {
                    // a thread that has exited waits for nothing (only possible when not frozen,
                    // e.g. a JVM retiring a compiler thread); any other failure is the process's
                    if (Files.exists(current.getParent())) {
                        throw e;
                    }
                }
            }
            return new ProcessSnapshot(pid, record, fds, blocked);
        } catch (IOException | RuntimeException e) {
            if (hasExited(dir)) {
                throw new CaptureException(pid, "process " + pid + " exited during capture (while reading "
                        + current + "); a frozen group must not lose processes: " + e, e);
            }
            throw new CaptureException(pid, "cannot capture process " + pid + " (reading " + current + "): " + e, e);
        }
    }

    /**
     * The output files `agent run` created for the scope's processes, as one set: each fd of the
     * group is looked up in it, where scanning every spec per fd made a capture O(fds × specs).
     */
    private static Set<String> agentOutputs(CaptureScope scope) {
        Set<String> paths = new HashSet<>();
        for (RestartSpec spec : scope.restartSpecs().values()) {
            if (!spec.getOutputLog().isEmpty()) {
                paths.add(spec.getOutputLog());
            }
        }
        return paths;
    }

    /**
     * An fd on an output file `agent run` created is the agent's, not the application's, in
     * whichever process of the group holds it (children inherit their parent's).
     */
    private static FdRecord markAgentOutput(FdRecord fd, Set<String> agentOutputs) {
        boolean agentOutput = fd.getKind() == FdKind.FD_REGULAR && agentOutputs.contains(fd.getPath());
        return agentOutput ? fd.toBuilder().setAgentOutput(true).build() : fd;
    }

    private OpenFd readFd(int pid, int fd, PortableIdentities ids, ProcFileReader reader, List<String> warnings)
            throws IOException {
        Path link = Path.of("/proc", Integer.toString(pid), "fd", Integer.toString(fd));
        String target = Native.readlink(link.toString());
        FdInfo info = FdInfo.read(pid, fd, reader);
        Map<String, Object> st = Files.readAttributes(link, "unix:dev,ino,size,lastModifiedTime,mode,nlink");
        long dev = (Long) st.get("dev");
        long inode = (Long) st.get("ino");
        long size = (Long) st.get("size");
        int mode = (Integer) st.get("mode");
        FdKind kind = kindOf(target, mode, (Integer) st.get("nlink"));
        FdRecord.Builder record = FdRecord.newBuilder()
                .setFd(fd)
                .setKind(kind)
                .setPath(target)
                .setOpenFlags(info.flags())
                .setOffset(info.pos())
                .setMntId(info.mntId())
                .setDev(dev)
                .setInode(inode)
                .setSize(size)
                .setMtimeNs(((FileTime) st.get("lastModifiedTime")).to(TimeUnit.NANOSECONDS))
                .setCloseOnExec((info.flags() & O_CLOEXEC) != 0);
        String subject = "pid " + pid + " fd " + fd + " (" + RawNames.display(target) + ")";
        if (kind == FdKind.FD_REGULAR || kind == FdKind.FD_DIRECTORY) {
            identify(ids, target, info.mntId(), link, warnings, subject).ifPresent(record::setIdentity);
        } else if (kind != FdKind.FD_CHAR_DEVICE && kind != FdKind.FD_BLOCK_DEVICE) {
            warnings.add(subject + ": " + kind + " is recorded but not restorable");
        }
        // /proc/locks names a file by its superblock's device, which is the mount's major:minor in
        // mountinfo; st_dev can differ from it (btrfs subvolumes), so prefer the mount's.
        String device = ids.mounts().byId(info.mntId()).map(m -> m.device())
                .orElse(DevT.major(dev) + ":" + DevT.minor(dev));
        return new OpenFd(fd, info, device, inode, size, record.build());
    }

    private static Optional<FileIdentity> identify(PortableIdentities ids, String path, int mntId, Path handlePath,
                                                   List<String> warnings, String subject) {
        try {
            return Optional.of(ids.identifyWithHandle(path, mntId, handlePath, w -> warnings.add(subject + ": " + w)));
        } catch (IllegalArgumentException e) {
            warnings.add(subject + ": no portable identity: " + e.getMessage());
            return Optional.empty();
        }
    }

    static FdKind kindOf(String target, int mode, int nlink) {
        if (target.startsWith("pipe:")) {
            return FdKind.FD_PIPE;
        }
        if (target.startsWith("socket:")) {
            return FdKind.FD_SOCKET;
        }
        if (target.startsWith("anon_inode:")) {
            return FdKind.FD_ANON_INODE;
        }
        if (target.endsWith(" (deleted)") && nlink == 0) {
            return FdKind.FD_DELETED_FILE;
        }
        if (!target.startsWith("/")) {
            return FdKind.FD_OTHER;
        }
        return switch (mode & S_IFMT) {
            case 0100000 -> FdKind.FD_REGULAR;
            case 0040000 -> FdKind.FD_DIRECTORY;
            case 0020000 -> FdKind.FD_CHAR_DEVICE;
            case 0060000 -> FdKind.FD_BLOCK_DEVICE;
            case 0010000 -> FdKind.FD_PIPE;
            case 0140000 -> FdKind.FD_SOCKET;
            default -> FdKind.FD_OTHER;
        };
    }

    // ---- locks ----

    /**
     * Held OFD and FLOCK locks, from fdinfo. One open file description can be reached through
     * several fds (dup, fork inheritance) and each of them lists its locks; /proc/locks tells how
     * many such locks really exist, and only that many are recorded: first on the process
     * /proc/locks names as taker (FLOCK), then lowest pid, then lowest fd.
     */
    private static void recordFdinfoLocks(List<ProcessSnapshot> processes, List<LockEntry> table, List<String> warnings) {
        Map<LockKey, List<LockEntry>> heldInTable = new HashMap<>();
        for (LockEntry e : table) {
            if (!e.waiter() && (e.kind().equals("OFDLCK") || e.kind().equals("FLOCK"))) {
                heldInTable.computeIfAbsent(LockKey.of(e), k -> new ArrayList<>()).add(e);
            }
        }
        Map<LockKey, List<Sighting>> sightings = new LinkedHashMap<>();
        for (ProcessSnapshot p : processes) {
            for (OpenFd fd : p.fds()) {
                for (LockEntry lock : fd.info().locks()) {
                    if (lock.kind().equals("OFDLCK") || lock.kind().equals("FLOCK")) {
                        sightings.computeIfAbsent(LockKey.of(lock), k -> new ArrayList<>()).add(new Sighting(p, fd, lock));
                    }
                }
            }
        }
        Set<Integer> pids = new java.util.HashSet<>();
        processes.forEach(p -> pids.add(p.pid()));
        for (LockEntry e : table) {
            // A flock taken through an fd that was closed later, while a memory mapping keeps the
            // open file description (the JVM's hsperfdata file is one): no fd can restore it.
            if (!e.waiter() && e.kind().equals("FLOCK") && pids.contains(e.pid()) && !sightings.containsKey(LockKey.of(e))) {
                warnings.add("pid " + e.pid() + ": " + describe(e) + " is held through no open fd (a memory mapping?);"
                        + " not restorable, not recorded as a lock");
            }
        }
        sightings.forEach((key, seen) -> {
            List<LockEntry> inTable = heldInTable.getOrDefault(key, List.of());
            // Not in /proc/locks at all can only mean the lock changed between the two reads
            // (not frozen); trust fdinfo then.
            int exist = inTable.isEmpty() ? seen.size() : inTable.size();
            List<Sighting> ordered = seen.stream()
                    .sorted(Comparator.<Sighting>comparingInt(s -> takerOf(s, inTable) ? 0 : 1)
                            .thenComparingInt(s -> s.process().pid())
                            .thenComparingInt(s -> s.fd().fd()))
                    .toList();
            for (int i = 0; i < ordered.size(); i++) {
                Sighting s = ordered.get(i);
                if (i < exist) {
                    String ordinal = i < inTable.size() ? Integer.toString(inTable.get(i).ordinal()) : "";
                    s.process().record().addLocks(lockRecord(s.lock(), false, s.process().pid(), s.fd(), ordinal));
                } else {
                    Sighting first = ordered.get(0);
                    warnings.add("pid " + s.process().pid() + " fd " + s.fd().fd() + ": " + describe(s.lock())
                            + " is the same lock as pid " + first.process().pid() + " fd " + first.fd().fd()
                            + " (shared open file description); recorded there only");
                }
            }
        });
    }

    private static boolean takerOf(Sighting s, List<LockEntry> inTable) {
        return inTable.stream().anyMatch(e -> e.pid() == s.process().pid());
    }

    /** Held POSIX locks and leases of the group's pids, from /proc/locks. */
    private static void recordTableLocks(Map<Integer, ProcessSnapshot> byPid, List<LockEntry> table, List<String> warnings) {
        for (LockEntry e : table) {
            ProcessSnapshot p = byPid.get(e.pid());
            boolean lease = e.kind().equals("LEASE") || e.kind().equals("DELEG");
            if (e.waiter() || p == null || !(e.kind().equals("POSIX") || lease)) {
                continue;
            }
            Optional<OpenFd> fd = p.fdFor(e);
            if (fd.isEmpty()) {
                warnings.add("pid " + e.pid() + ": " + describe(e) + " has no open fd on its file; recorded without fd");
            }
            if (lease) {
                warnings.add("pid " + e.pid() + ": " + describe(e) + ": leases are not restorable");
            }
            p.record().addLocks(lockRecord(e, false, e.pid(), fd.orElse(null), Integer.toString(e.ordinal())));
        }
    }

    private static void recordWaiters(List<ProcessSnapshot> processes, Map<Integer, ProcessSnapshot> byPid,
                                      List<LockEntry> table, List<String> warnings) {
        // by identity: two waiters can print identically (OFD waiters have no pid)
        Set<LockEntry> explained = Collections.newSetFromMap(new IdentityHashMap<>());
        for (ProcessSnapshot p : processes) {
            for (BlockedLockCall call : p.blocked()) {
                Optional<OpenFd> fd = p.fd(call.fd());
                if (fd.isEmpty()) {
                    warnings.add("pid " + p.pid() + " tid " + call.tid() + " waits for a " + call.kind()
                            + " lock on fd " + call.fd() + ", which is not open; not recorded");
                    continue;
                }
                LockEntry wanted = waitedLock(call, fd.get());
                Optional<LockEntry> inTable = table.stream()
                        .filter(e -> e.waiter() && e.sameLock(wanted) && !explained.contains(e)
                                && (e.pid() == p.pid() || e.kind().equals("OFDLCK")))
                        .findFirst();
                inTable.ifPresent(explained::add);
                p.record().addLocks(lockRecord(wanted, true, p.pid(), fd.get(),
                        inTable.map(e -> Integer.toString(e.ordinal())).orElse("")));
            }
        }
        for (LockEntry e : table) {
            if (!e.waiter() || explained.contains(e)) {
                continue;
            }
            ProcessSnapshot p = byPid.get(e.pid());
            if (p != null) {
                Optional<OpenFd> fd = p.fdFor(e);
                if (fd.isEmpty()) {
                    warnings.add("pid " + e.pid() + ": waiting " + describe(e) + " has no open fd on its file;"
                            + " recorded without fd");
                }
                p.record().addLocks(lockRecord(e, true, e.pid(), fd.orElse(null), Integer.toString(e.ordinal())));
            } else if (e.kind().equals("OFDLCK") && processes.stream().anyMatch(q -> q.hasOpen(FileKey.of(e)))) {
                warnings.add("unattributed waiting " + describe(e) + " (/proc/locks #" + e.ordinal()
                        + "): OFD waiters carry no pid and no group thread is blocked on it; if a group process"
                        + " waits for it, that wait is not recorded");
            }
        }
    }

    /** The lock a blocked call asks for, in /proc/locks terms, so it can be compared with entries. */
    private static LockEntry waitedLock(BlockedLockCall call, OpenFd fd) {
        String[] parts = fd.device().split(":");
        int major = Integer.parseInt(parts[0]);
        int minor = Integer.parseInt(parts[1]);
        String type = call.write() ? "WRITE" : "READ";
        return switch (call.kind()) {
            case BlockedLockCall.FLOCK -> new LockEntry(0, true, "FLOCK", "ADVISORY", type, 0, major, minor, fd.inode(), 0, LockEntry.EOF);
            default -> {
                BlockedLockCall.Range r = call.range(fd.info().pos(), fd.size());
                String kind = call.kind().equals(BlockedLockCall.OFD) ? "OFDLCK" : "POSIX";
                yield new LockEntry(0, true, kind, "ADVISORY", type, 0, major, minor, fd.inode(), r.start(), r.end());
            }
        };
    }

    private static LockRecord lockRecord(LockEntry e, boolean waiting, int ownerPid, OpenFd fd, String lockId) {
        LockRecord.Builder r = LockRecord.newBuilder()
                .setKind(switch (e.kind()) {
                    case "POSIX" -> LockKind.POSIX;
                    case "OFDLCK" -> LockKind.OFD;
                    case "FLOCK" -> LockKind.FLOCK;
                    default -> LockKind.LEASE;
                })
                .setType(switch (e.type()) {
                    case "READ" -> LockType.READ;
                    case "WRITE" -> LockType.WRITE;
                    default -> LockType.LOCK_TYPE_UNSPECIFIED;
                })
                .setStart(e.start())
                .setEnd(e.end())
                .setWaiting(waiting)
                .setOwnerPid(ownerPid)
                .setDev(e.major() < 0 ? 0 : DevT.makedev(e.major(), e.minor()))
                .setInode(e.inode())
                .setLockId(lockId)
                .setFd(fd == null ? -1 : fd.fd());
        if (fd != null && fd.record().hasIdentity()) {
            r.setIdentity(fd.record().getIdentity());
        }
        return r.build();
    }

    private static String describe(LockEntry e) {
        return e.kind() + " " + e.type() + " lock on " + e.device() + ":" + e.inode() + " ["
                + e.start() + ", " + (e.end() == LockEntry.EOF ? "EOF" : Long.toString(e.end())) + "]";
    }

    // ---- /proc helpers ----

    /** The value of a "Key:\tvalue" line of /proc/&lt;pid&gt;/status, after the tab. */
    private static Optional<String> statusField(String status, String key) {
        for (int from = 0, next; from < status.length(); from = next + 1) {
            next = status.indexOf('\n', from);
            if (next < 0) {
                next = status.length();
            }
            if (status.startsWith(key, from) && from + key.length() < next && status.charAt(from + key.length()) == ':') {
                int value = from + key.length() + 1;
                return Optional.of(status.substring(value < next && status.charAt(value) == '\t' ? value + 1 : value, next));
            }
        }
        return Optional.empty();
    }

    /** The real id: status prints "Uid: real effective saved fs". */
    private static String firstField(String status, String key, Path file) throws IOException {
        String value = statusField(status, key)
                .orElseThrow(() -> new IOException(file + " has no " + key + " line")).trim();
        int end = 0;
        while (end < value.length() && !Character.isWhitespace(value.charAt(end))) {
            end++;
        }
        return value.substring(0, end);
    }

    /**
     * What /proc/&lt;pid&gt;/comm says, from status's Name line, which saves a file per process. The
     * kernel escapes a newline in the name there as \n and a backslash as \\ (proc_task_name).
     */
    private static String commOf(String status, Path file) throws IOException {
        String name = statusField(status, "Name").orElseThrow(() -> new IOException(file + " has no Name line"));
        if (name.indexOf('\\') < 0) {
            return name.strip();
        }
        StringBuilder comm = new StringBuilder(name.length());
        for (int i = 0; i < name.length(); i++) {
            char c = name.charAt(i);
            if (c == '\\' && i + 1 < name.length() && (name.charAt(i + 1) == 'n' || name.charAt(i + 1) == '\\')) {
                comm.append(name.charAt(++i) == 'n' ? '\n' : '\\');
            } else {
                comm.append(c);
            }
        }
        return comm.toString().strip();
    }

    private static List<String> splitNul(String s) {
        if (s.isEmpty()) {
            return List.of();
        }
        if (s.endsWith("\0")) {
            s = s.substring(0, s.length() - 1);
        }
        return Arrays.asList(s.split("\0", -1));
    }

    private static List<Integer> listNumbers(Path dir) throws IOException {
        try (Stream<Path> entries = Files.list(dir)) {
            return entries.map(p -> Integer.parseInt(p.getFileName().toString())).sorted().toList();
        }
    }

    /** Gone from /proc, or a zombie: its files, cwd and fds are already released. */
    private static boolean hasExited(Path dir) {
        return io.lockstep.agent.proc.ProcessState.exited(dir);
    }

    private static String hostname() {
        try {
            return Files.readString(Path.of("/proc/sys/kernel/hostname")).strip();
        } catch (IOException e) {
            return "";
        }
    }
}
