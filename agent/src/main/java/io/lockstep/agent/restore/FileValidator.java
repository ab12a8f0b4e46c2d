package io.lockstep.agent.restore;

import io.lockstep.proto.FdKind;
import io.lockstep.proto.FdRecord;
import io.lockstep.proto.FileIdentity;
import io.lockstep.proto.FileProblem;
import io.lockstep.proto.Manifest;
import io.lockstep.proto.ProcessRecord;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.Path;
import java.nio.file.attribute.BasicFileAttributes;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Optional;
import java.util.Set;
import java.util.concurrent.TimeUnit;

/**
 * Checks, before anything is staged, that the files a manifest's processes had open are on this
 * host as they were: present and of the same type (always fatal when not), with the recorded
 * size and mtime (drift is fatal unless forced). A directory's size and mtime change with every
 * entry added, so for directories only presence and type count.
 */
public final class FileValidator {
    private final PathResolver resolver;

    public FileValidator(PathResolver resolver) {
        this.resolver = resolver;
    }

    public List<FileProblem> validate(Manifest manifest, boolean force) {
        List<FdRecord> fds = new ArrayList<>();
        List<FileProblem> skipped = new ArrayList<>();
        for (ProcessRecord process : manifest.getProcessesList()) {
            for (FdRecord fd : process.getFdsList()) {
                if (fd.getAgentOutput()) {
                    continue; // the agent's own output file: a restore creates a fresh one
                }
                if (LocalFiles.skippable(process, fd, resolver)) {
                    skipped.add(problem(fd.getPath(), identityText(fd), "local file of another host without a lock: fd "
                            + fd.getFd() + " of pid " + process.getPid() + " will not be reopened", false));
                } else {
                    fds.add(fd);
                }
            }
        }
        List<FileProblem> problems = validate(fds, force);
        problems.addAll(skipped);
        return problems;
    }

    /** One problem per file and kind of problem, however many fds refer to the file. */
    public List<FileProblem> validate(List<FdRecord> fds, boolean force) {
        List<FileProblem> problems = new ArrayList<>();
        Set<String> reported = new HashSet<>();
        for (FdRecord fd : fds) {
            if (fd.getKind() != FdKind.FD_REGULAR && fd.getKind() != FdKind.FD_DIRECTORY) {
                continue;
            }
            for (FileProblem problem : check(fd, force)) {
                if (reported.add(problem.getIdentity() + "\0" + problem.getProblem())) {
                    problems.add(problem);
                }
            }
        }
        return problems;
    }

    private List<FileProblem> check(FdRecord fd, boolean force) {
        String identity = identityText(fd);
        Optional<Path> resolved = resolver.resolve(fd);
        if (resolved.isEmpty()) {
            return List.of(problem(fd.getPath(), identity, "missing: not found on this host", true));
        }
        Path path = resolved.get();
        BasicFileAttributes attributes;
        try {
            attributes = Files.readAttributes(path, BasicFileAttributes.class, LinkOption.NOFOLLOW_LINKS);
        } catch (IOException e) {
            return List.of(problem(path.toString(), identity, "missing: " + e.getMessage(), true));
        }
        boolean wantDirectory = fd.getKind() == FdKind.FD_DIRECTORY;
        if (wantDirectory ? !attributes.isDirectory() : !attributes.isRegularFile()) {
            return List.of(problem(path.toString(), identity, "type: recorded as "
                    + (wantDirectory ? "a directory" : "a regular file") + ", is now "
                    + typeOf(attributes), true));
        }
        if (wantDirectory) {
            return List.of();
        }
        List<FileProblem> problems = new ArrayList<>();
        if (attributes.size() != fd.getSize()) {
            problems.add(problem(path.toString(), identity, "size drift: recorded " + fd.getSize()
                    + " bytes, now " + attributes.size(), !force));
        }
        long mtimeNs = attributes.lastModifiedTime().to(TimeUnit.NANOSECONDS);
        if (mtimeNs != fd.getMtimeNs()) {
            problems.add(problem(path.toString(), identity, "mtime drift: recorded " + fd.getMtimeNs()
                    + " ns, now " + mtimeNs, !force));
        }
        return problems;
    }

    private static String typeOf(BasicFileAttributes attributes) {
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

    private static FileProblem problem(String path, String identity, String problem, boolean fatal) {
        return FileProblem.newBuilder().setPath(path).setIdentity(identity).setProblem(problem).setFatal(fatal)
                .build();
    }
}
