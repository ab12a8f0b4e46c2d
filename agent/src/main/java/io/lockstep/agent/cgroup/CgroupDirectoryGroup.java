package io.lockstep.agent.cgroup;

import io.lockstep.agent.nativeio.Native;
import java.io.IOException;
import java.nio.file.DirectoryNotEmptyException;
import java.nio.file.FileSystemException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Optional;
import java.util.Set;

/** What a v2 cgroup and a v1 freezer cgroup share: a directory whose cgroup.procs lists the group. */
abstract class CgroupDirectoryGroup implements GroupCgroup {
    static final int SIGKILL = 9;

    private final String name;
    final Path path;

    CgroupDirectoryGroup(String name, Path path) {
        this.name = name;
        this.path = path;
    }

    @Override
    public String name() {
        return name;
    }

    @Override
    public Optional<Path> path() {
        return Optional.of(path);
    }

    @Override
    public void create() throws IOException {
        if (Files.exists(path) && !Files.isDirectory(path)) {
            throw new IOException("cannot create cgroup " + path + ": a cgroup interface file has that name");
        }
        try {
            Files.createDirectories(path);
        } catch (IOException e) {
            throw new IOException("cannot create cgroup " + path + ": " + e.getMessage(), e);
        }
    }

    @Override
    public void addProcess(int pid) throws IOException {
        CgroupFiles.write(path.resolve("cgroup.procs"), Integer.toString(pid));
    }

    @Override
    public Set<Integer> pids() throws IOException {
        return CgroupFiles.ids(path.resolve("cgroup.procs"));
    }

    /** The file listing the group's threads: cgroup.threads (v2), tasks (v1). */
    abstract Path tasksFile();

    @Override
    public Set<Integer> tids() throws IOException {
        return CgroupFiles.ids(tasksFile());
    }

    /** How many threads the group has, cheaper than {@code tids().size()} (no parse, no sort). */
    int taskCount() throws IOException {
        return CgroupFiles.count(tasksFile());
    }

    @Override
    public List<String> entryCommand() {
        String procs = CgroupFiles.shellQuote(path.resolve("cgroup.procs").toString());
        return List.of("/bin/sh", "-c", "echo $$ > " + procs + " && exec \"$0\" \"$@\"");
    }

    private static final Duration REMOVE_TIMEOUT = Duration.ofSeconds(10);

    @Override
    public boolean killAll(Duration timeout) throws IOException {
        startKill();
        // Each round kills whatever is still there: a fork that raced the first round dies in the next.
        return BoundedWait.until(() -> {
            Set<Integer> left = pids();
            if (left.isEmpty()) {
                return true;
            }
            for (int pid : left) {
                Native.kill(pid, SIGKILL);
            }
            // A frozen task dies of SIGKILL only once it runs again.
            freezer().thaw();
            return false;
        }, timeout);
    }

    /** The kernel's own group kill where there is one; nothing otherwise (the rounds in killAll do it). */
    abstract void startKill() throws IOException;

    @Override
    public void remove() throws IOException {
        // Killed tasks leave cgroup.procs before they finish exiting; until then rmdir says EBUSY.
        FileSystemException[] busy = new FileSystemException[1];
        boolean removed = BoundedWait.until(() -> {
            try {
                Files.deleteIfExists(path);
                return true;
            } catch (DirectoryNotEmptyException e) {
                throw new IOException("cannot remove cgroup " + path + ": it has child cgroups", e);
            } catch (FileSystemException e) {
                busy[0] = e;
                return false;
            }
        }, REMOVE_TIMEOUT);
        if (!removed) {
            throw new IOException("cannot remove cgroup " + path + " (pids " + pids() + "): " + busy[0].getMessage(), busy[0]);
        }
    }

    @Override
    public String toString() {
        return backend() + " group " + name + " at " + path;
    }
}
