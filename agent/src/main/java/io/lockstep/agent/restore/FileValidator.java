package io.lockstep.agent.restore;

import io.lockstep.agent.nativeio.Native;
import io.lockstep.agent.nativeio.NativeException;
import io.lockstep.names.RawNames;
import io.lockstep.names.RawPaths;
import io.lockstep.proto.FdKind;
import io.lockstep.proto.FdRecord;
import io.lockstep.proto.FileIdentity;
import io.lockstep.proto.FileProblem;
import io.lockstep.proto.IdentityKind;
import io.lockstep.proto.Manifest;
import io.lockstep.proto.MatchRule;
import io.lockstep.proto.ProcessRecord;
import io.lockstep.proto.ServerMatch;
import java.io.IOException;
import java.time.Instant;
import java.time.ZoneOffset;
import java.time.format.DateTimeFormatter;
import java.time.temporal.ChronoUnit;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Optional;
import java.util.Set;

/**
 * Checks, before anything is staged, that the files a manifest's processes had open are on this
 * host as they were: present and of the same type (always fatal when not), with the recorded
 * size and mtime (drift is fatal unless forced), openable by the uid the program runs as, and,
 * where a file handle was recorded and the file was found where its identity leads, with the
 * same handle (a file renamed away or replaced is caught even when size and mtime match; fatal
 * unless forced). A directory's size and mtime change with every entry added, so for directories
 * only presence, type, access and handle count.
 */
public final class FileValidator {
    private final PathResolver resolver;
    private final FileHandles handles;

    public FileValidator(PathResolver resolver) {
        this(resolver, FileHandles.NATIVE);
    }

    public FileValidator(PathResolver resolver, FileHandles handles) {
        this.resolver = resolver;
        this.handles = handles;
    }

    /**
     * What a validation found: the problems, and how each recorded network export was matched to
     * a mount here (one entry per recorded export, local mount and rule).
     */
    public record Report(List<FileProblem> problems, List<ServerMatch> matches) {
    }

    public List<FileProblem> validate(Manifest manifest, boolean force) {
        return check(manifest, force).problems();
    }

    public Report check(Manifest manifest, boolean force) {
        List<FdRecord> fds = new ArrayList<>();
        List<FileProblem> skipped = new ArrayList<>();
        for (ProcessRecord process : manifest.getProcessesList()) {
            for (FdRecord fd : process.getFdsList()) {
                if (fd.getAgentOutput()) {
                    continue; // the agent's own output file: a restore creates a fresh one
                }
                Optional<String> leftClosed = LocalFiles.leftClosed(process, fd, resolver);
                if (leftClosed.isPresent()) {
                    skipped.add(problem(fd.getPath(), identityText(fd), leftClosed.get() + ": fd " + fd.getFd()
                            + " of pid " + process.getPid() + " will not be reopened", false));
                } else {
                    fds.add(fd);
                }
            }
        }
        Report report = check(fds, force);
        if (report.problems().stream().noneMatch(FileProblem::getFatal)) {
            report.problems().addAll(accessProblems(manifest));
        }
        report.problems().addAll(skipped);
        return report;
    }

    /**
     * The stub opens each file after it dropped to the program's uid and gid, with no supplementary
     * group (setgroups(0), as {@code agent run} starts programs): a file that these credentials
     * cannot open as recorded (e.g. a root-owned 0600 log, or a file only a supplementary group of
     * the uid may read) would fail at stage, after validation reported nothing. Checked as the
     * kernel will: the owner, group and mode of the file and the search permission of its
     * directories, with POSIX ACL entries where a file has them ({@link PosixAcl}).
     */
    private List<FileProblem> accessProblems(Manifest manifest) {
        List<FileProblem> problems = new ArrayList<>();
        Set<String> reported = new HashSet<>();
        for (ProcessRecord process : manifest.getProcessesList()) {
            int uid = process.hasRestart() ? process.getRestart().getUid() : process.getUid();
            int gid = process.hasRestart() ? process.getRestart().getGid() : process.getGid();
            if (uid == 0) {
                continue;
            }
            for (FdRecord fd : process.getFdsList()) {
                if (fd.getKind() != FdKind.FD_REGULAR && fd.getKind() != FdKind.FD_DIRECTORY || fd.getAgentOutput()) {
                    continue; // the agent's output file is not reopened: the agent gives the program a fresh one
                }
                Optional<String> path = resolver.resolve(fd);
                if (path.isEmpty()) {
                    continue;
                }
                int access = fd.getOpenFlags() & O_ACCMODE;
                boolean read = access == O_RDONLY || access == O_RDWR;
                boolean write = access == O_WRONLY || access == O_RDWR;
                Optional<String> denied = deniedAs(path.get(), uid, gid, read, write);
                if (denied.isPresent() && reported.add(path.get() + "\0" + uid)) {
                    problems.add(problem(path.get(), identityText(fd), "permission: fd " + fd.getFd()
                            + " of pid " + process.getPid() + " is opened for " + (read && write ? "reading and writing"
                            : write ? "writing" : "reading") + " as uid " + uid + " gid " + gid
                            + " (a restored program has no supplementary groups), which " + denied.get(), true));
                }
            }
        }
        return problems;
    }

    private static final int O_ACCMODE = 3;
    private static final int O_RDONLY = 0;
    private static final int O_WRONLY = 1;
    private static final int O_RDWR = 2;

    /** Why uid:gid cannot open the file so, if it cannot. */
    static Optional<String> deniedAs(String file, int uid, int gid, boolean read, boolean write) {
        try {
            for (Optional<String> dir = RawPaths.parent(file); dir.isPresent(); dir = RawPaths.parent(dir.get())) {
                if (!allowed(dir.get(), uid, gid, 1)) {
                    return Optional.of("cannot search directory " + RawNames.display(dir.get()) + " ("
                            + describe(dir.get()) + ")");
                }
            }
            int wanted = (read ? 4 : 0) | (write ? 2 : 0);
            if (!allowed(file, uid, gid, wanted)) {
                return Optional.of("may not (" + describe(file) + ")");
            }
            return Optional.empty();
        } catch (IOException e) {
            return Optional.of("cannot be checked: " + e.getMessage());
        }
    }

    private static boolean allowed(String path, int uid, int gid, int wanted) throws IOException {
        Native.Stat st = Native.lstat(path);
        Optional<PosixAcl> acl = PosixAcl.of(path);
        if (acl.isPresent()) {
            return acl.get().allows(uid, gid, st.uid(), st.gid(), wanted);
        }
        int mode = st.mode();
        int bits = st.uid() == uid ? (mode >> 6) & 7 : st.gid() == gid ? (mode >> 3) & 7 : mode & 7;
        return (bits & wanted) == wanted;
    }

    private static String describe(String path) throws IOException {
        Native.Stat st = Native.lstat(path);
        Optional<PosixAcl> acl = PosixAcl.of(path);
        return "owner " + st.uid() + ", group " + st.gid() + ", mode " + String.format("%04o", st.mode() & 07777)
                + acl.map(a -> ", ACL " + a).orElse("");
    }

    /** One problem per file and kind of problem, however many fds refer to the file. */
    public List<FileProblem> validate(List<FdRecord> fds, boolean force) {
        return check(fds, force).problems();
    }

    private Report check(List<FdRecord> fds, boolean force) {
        List<FileProblem> problems = new ArrayList<>();
        Set<String> reported = new HashSet<>();
        Set<ServerMatch> matches = new LinkedHashSet<>();
        for (FdRecord fd : fds) {
            if (fd.getKind() != FdKind.FD_REGULAR && fd.getKind() != FdKind.FD_DIRECTORY) {
                continue;
            }
            for (FileProblem problem : check(fd, force, matches)) {
                if (reported.add(problem.getIdentity() + "\0" + problem.getProblem())) {
                    problems.add(problem);
                }
            }
        }
        return new Report(problems, List.copyOf(matches));
    }

    private List<FileProblem> check(FdRecord fd, boolean force, Set<ServerMatch> matches) {
        String identity = identityText(fd);
        PathResolver.Lookup lookup = resolver.lookup(fd);
        if (lookup.path().isEmpty() && fd.getIdentity().getKind() == IdentityKind.LOCAL) {
            String home = fd.getIdentity().getHostId();
            return List.of(problem(fd.getPath(), identity, "local file of host " + home + " (a "
                    + fd.getIdentity().getFsType() + " file system only " + home + " sees): restore this process on "
                    + home + " (no --map for it), or keep the file on a network file system (NFS, or a type declared "
                    + "with `agent serve --network-fs TYPE`), or --path-map it to a copy on this host", true));
        }
        if (lookup.path().isEmpty()) {
            return List.of(problem(fd.getPath(), identity, "missing: " + lookup.whyMissing(), true));
        }
        lookup.match().ifPresent(matches::add);
        String path = lookup.path().get();
        Native.Stat attributes;
        try {
            attributes = Native.lstat(path); // names are bytes: not through Path and the JVM's charset
        } catch (NativeException e) {
            return List.of(problem(path, identity, "missing: " + e.getMessage(), true));
        }
        boolean wantDirectory = fd.getKind() == FdKind.FD_DIRECTORY;
        if (wantDirectory ? !attributes.isDirectory() : !attributes.isRegularFile()) {
            return List.of(problem(path, identity, "type: recorded as "
                    + (wantDirectory ? "a directory" : "a regular file") + ", is now "
                    + typeOf(attributes), true));
        }
        List<FileProblem> problems = new ArrayList<>();
        FileIdentity recorded = fd.getIdentity();
        // a file found by its handle needs no second look at it
        boolean handleDecided = lookup.match().map(m -> m.getRule() == MatchRule.FILE_HANDLE).orElse(false);
        if (!recorded.getFileHandle().isEmpty() && lookup.byIdentity() && !handleDecided) {
            checkHandle(path, identity, recorded, force).ifPresent(problems::add);
        }
        if (wantDirectory) {
            return problems;
        }
        if (attributes.size() != fd.getSize()) {
            problems.add(problem(path, identity, "size drift: " + bytes(fd.getSize()) + " → "
                    + bytes(attributes.size()), !force));
        }
        long mtimeNs = attributes.mtimeNs();
        if (mtimeNs != fd.getMtimeNs()) {
            problems.add(problem(path, identity, "mtime drift: " + time(fd.getMtimeNs(), mtimeNs) + " → "
                    + time(mtimeNs, fd.getMtimeNs()), !force));
        }
        return problems;
    }

    /**
     * The file found by path must be the file recorded: the same handle. A file system that gives
     * no handle here is not checked; a failure to take one is reported but accepted.
     */
    private Optional<FileProblem> checkHandle(String path, String identity, FileIdentity recorded, boolean force) {
        Optional<Native.FileHandle> now;
        try {
            now = handles.of(path);
        } catch (NativeException e) {
            return Optional.of(problem(path, identity, "file handle not compared: " + e.getMessage(), false));
        }
        if (now.isEmpty() || FileHandles.same(now.get(), recorded.getHandleType(), recorded.getFileHandle().toByteArray())) {
            return Optional.empty();
        }
        return Optional.of(problem(path, identity, "replaced: " + RawNames.display(path) + " is not the file recorded"
                + " (file handle type " + recorded.getHandleType() + " " + hex(recorded.getFileHandle().toByteArray())
                + " at checkpoint, now type " + now.get().type() + " " + hex(now.get().bytes())
                + "): it was renamed or replaced since", !force));
    }

    private static String hex(byte[] bytes) {
        return java.util.HexFormat.of().formatHex(bytes);
    }

    private static final DateTimeFormatter CLOCK = DateTimeFormatter.ofPattern("HH:mm:ss.SSS").withZone(ZoneOffset.UTC);
    private static final DateTimeFormatter DAY_AND_CLOCK = DateTimeFormatter.ofPattern("yyyy-MM-dd HH:mm:ss.SSS")
            .withZone(ZoneOffset.UTC);

    /** "12:03:07.105" (UTC); with the date when {@code other} is on another day; nanoseconds when ms are equal. */
    static String time(long nanos, long other) {
        Instant at = Instant.ofEpochSecond(0, nanos);
        Instant then = Instant.ofEpochSecond(0, other);
        boolean sameDay = at.truncatedTo(ChronoUnit.DAYS).equals(then.truncatedTo(ChronoUnit.DAYS));
        String text = (sameDay ? CLOCK : DAY_AND_CLOCK).format(at);
        if (nanos / 1_000_000 == other / 1_000_000) {
            text += String.format("%06d", nanos % 1_000_000);
        }
        return text + (sameDay ? "" : "Z");
    }

    /** "1.2 KiB (1234 bytes)". */
    static String bytes(long size) {
        if (size < 1024) {
            return size + " bytes";
        }
        String unit = size < 1024 * 1024 ? String.format("%.1f KiB", size / 1024.0)
                : String.format("%.1f MiB", size / (1024.0 * 1024));
        return unit + " (" + size + " bytes)";
    }

    private static String typeOf(Native.Stat attributes) {
        if (attributes.isDirectory()) {
            return "a directory";
        }
        if (attributes.isRegularFile()) {
            return "a regular file";
        }
        return attributes.isSymbolicLink() ? "a symbolic link" : "a special file";
    }

    /** The portable identity as operators read it: server:/export//relative, host:device:/path, else the old path. */
    static String identityText(FdRecord fd) {
        return identityText(fd.getIdentity(), fd.getPath());
    }

    /** A portable identity as operators read it in reports; {@code otherwise} when there is none. */
    public static String identityText(FileIdentity id, String otherwise) {
        return switch (id.getKind()) {
            case NETWORK -> id.getSource() + "//" + id.getRelativePath();
            case LOCAL -> id.getHostId() + ":" + id.getDevice() + ":" + id.getRelativePath();
            default -> otherwise;
        };
    }

    /** A report entry: names shown escaped (it is serialized as UTF-8 text, which cannot hold every byte). */
    private static FileProblem problem(String path, String identity, String problem, boolean fatal) {
        return FileProblem.newBuilder().setPath(RawNames.display(path)).setIdentity(RawNames.display(identity))
                .setProblem(RawNames.display(problem)).setFatal(fatal).build();
    }
}
