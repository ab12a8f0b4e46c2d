package io.lockstep.agent.cgroup;

import io.lockstep.names.RawNames;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.DirectoryStream;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.Deque;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Optional;
import java.util.Set;
import java.util.TreeSet;

/** What /proc says about processes and threads. A task that vanishes while being read is simply absent. */
final class ProcFs {
    private static final Path PROC = Path.of("/proc");

    /** The fields of /proc/&lt;tid&gt;/stat this package needs. */
    record Stat(int tid, String comm, char state, int ppid, int session, long startTime) {
        boolean stopped() {
            return state == 'T' || state == 't';
        }

        boolean dead() {
            return state == 'Z' || state == 'X';
        }
    }

    private ProcFs() {
    }

    /** /proc/&lt;tid&gt;/stat, or empty when the task does not exist (any more). */
    static Optional<Stat> stat(int tid) throws IOException {
        String line;
        try {
            // comm may hold any bytes: never a strict UTF-8 read
            line = RawNames.decode(Files.readAllBytes(PROC.resolve(Integer.toString(tid)).resolve("stat")));
        } catch (NoSuchFileException e) {
            return Optional.empty();
        } catch (IOException e) {
            // ESRCH while the task exits between open and read.
            if (!Files.exists(PROC.resolve(Integer.toString(tid)))) {
                return Optional.empty();
            }
            throw e;
        }
        // comm may contain spaces and parentheses: it ends at the last ')'.
        int open = line.indexOf('(');
        int close = line.lastIndexOf(')');
        String comm = line.substring(open + 1, close);
        String[] rest = line.substring(close + 2).trim().split(" ");
        // rest[0] is field 3 (state); field N is rest[N - 3].
        return Optional.of(new Stat(tid, comm, rest[0].charAt(0), Integer.parseInt(rest[1]),
                Integer.parseInt(rest[3]), Long.parseLong(rest[19])));
    }

    /** The kernel function the task sleeps in, or "" when it is running or gone. */
    static String wchan(int tid) {
        try {
            String w = Files.readString(PROC.resolve(Integer.toString(tid)).resolve("wchan")).trim();
            return w.equals("0") ? "" : w;
        } catch (IOException e) {
            return "";
        }
    }

    /** The process a task belongs to (Tgid in /proc/&lt;tid&gt;/status); the tid itself when it is gone. */
    static int processOf(int tid) {
        try {
            for (String line : Files.readAllLines(PROC.resolve(Integer.toString(tid)).resolve("status"))) {
                if (line.startsWith("Tgid:")) {
                    return Integer.parseInt(line.substring(5).trim());
                }
            }
        } catch (IOException e) {
            // gone meanwhile
        }
        return tid;
    }

    static TaskReport report(int tid) throws IOException {
        Optional<Stat> stat = stat(tid);
        return stat.map(s -> new TaskReport(processOf(tid), tid, s.comm(), s.state(), wchan(tid)))
                .orElseGet(() -> new TaskReport(tid, tid, "?", '?', ""));
    }

    /** Thread ids of a process; empty when it is gone. */
    static Set<Integer> threads(int pid) throws IOException {
        return numericEntries(PROC.resolve(Integer.toString(pid)).resolve("task"));
    }

    /**
     * Direct children of a process: the union of /proc/&lt;pid&gt;/task/&lt;tid&gt;/children over its
     * threads (each thread lists the children it forked), or, on kernels without that file, a scan
     * of every process's parent pid.
     */
    static Set<Integer> children(int pid) throws IOException {
        Set<Integer> children = new TreeSet<>();
        for (int tid : threads(pid)) {
            Path file = PROC.resolve(Integer.toString(pid)).resolve("task").resolve(Integer.toString(tid)).resolve("children");
            try {
                String text = Files.readString(file).trim();
                if (!text.isEmpty()) {
                    for (String child : text.split("\\s+")) {
                        children.add(Integer.parseInt(child));
                    }
                }
            } catch (NoSuchFileException e) {
                if (Files.isDirectory(file.getParent())) {
                    return childrenByScan(pid);
                }
                // the thread exited meanwhile
            }
        }
        return children;
    }

    private static Set<Integer> childrenByScan(int pid) throws IOException {
        Set<Integer> children = new TreeSet<>();
        for (int candidate : numericEntries(PROC)) {
            Optional<Stat> stat = stat(candidate);
            if (stat.isPresent() && stat.get().ppid() == pid) {
                children.add(candidate);
            }
        }
        return children;
    }

    /** The given processes and all their descendants that are alive, roots first. */
    static Set<Integer> withDescendants(Set<Integer> roots) throws IOException {
        Set<Integer> all = new LinkedHashSet<>();
        Deque<Integer> todo = new ArrayDeque<>(roots);
        while (!todo.isEmpty()) {
            int pid = todo.poll();
            Optional<Stat> stat = stat(pid);
            if (stat.isEmpty() || stat.get().dead() || !all.add(pid)) {
                continue;
            }
            todo.addAll(children(pid));
        }
        return all;
    }

    /** Every thread of the given processes. */
    static Set<Integer> threadsOf(Set<Integer> pids) throws IOException {
        Set<Integer> tids = new TreeSet<>();
        for (int pid : pids) {
            tids.addAll(threads(pid));
        }
        return tids;
    }

    static List<TaskReport> reports(Set<Integer> tids) throws IOException {
        List<TaskReport> reports = new ArrayList<>();
        for (int tid : tids) {
            reports.add(report(tid));
        }
        return reports;
    }

    static Set<Integer> numericEntries(Path dir) throws IOException {
        Set<Integer> ids = new TreeSet<>();
        try (DirectoryStream<Path> entries = Files.newDirectoryStream(dir)) {
            for (Path entry : entries) {
                String name = entry.getFileName().toString();
                if (!name.isEmpty() && name.chars().allMatch(Character::isDigit)) {
                    ids.add(Integer.parseInt(name));
                }
            }
        } catch (NoSuchFileException e) {
            return ids;
        } catch (UncheckedIOException e) {
            throw e.getCause();
        }
        return ids;
    }
}
