package io.lockstep.agent.cgroup;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.UUID;
import org.junit.jupiter.api.Assumptions;

/**
 * One test's group on one backend, under a unique cgroup root, with its processes, counter files
 * and a reference counter outside the group; {@link #close()} kills and removes everything, even
 * after a failure, and reports whether the group had been left frozen.
 */
final class TestGroup implements AutoCloseable {
    /** Counts into $1 forever, forking a short-lived sleep per tick (children that come and go). */
    static final String COUNTER = "i=0; while :; do i=$((i+1)); echo $i > \"$1\"; sleep 0.005; done";
    /** A process whose child and grandchild count into $1 and $2. */
    static final String TREE = "( ( /bin/sh -c '" + COUNTER + "' grandchild \"$2\" ) & /bin/sh -c '" + COUNTER
            + "' child \"$1\" ) & wait";

    final Backend backend;
    final CgroupLayout layout;
    final GroupCgroup group;
    final Path dir;
    private final List<Process> processes = new ArrayList<>();
    private final List<FreezeGuard> guards = new ArrayList<>();
    private final List<GroupCgroup> extraGroups = new ArrayList<>();
    private final Path reference;

    /** Set by {@link #startTree()}: the tree's top process, which lives as long as the test. */
    int treePid;

    private TestGroup(Backend backend, Path dir, CgroupLayout layout) throws IOException {
        this.backend = backend;
        this.dir = dir;
        this.layout = layout;
        this.group = layout.forGroup("g1");
        group.create();
        this.reference = dir.resolve("reference");
        processes.add(new ProcessBuilder("/bin/sh", "-c", COUNTER, "reference", reference.toString()).start());
    }

    /** A group on {@code backend} under a fresh root; skips the test when this host lacks the backend. */
    static TestGroup on(Backend backend, Path dir) throws IOException {
        CgroupLayout detected = CgroupLayout.detect("lockstep-test-" + UUID.randomUUID());
        if (!detected.available().contains(backend)) {
            detected.removeRootIfEmpty();
            Assumptions.abort(backend + " is not available on this host: " + detected);
        }
        return new TestGroup(backend, dir, detected.withBackend(backend));
    }

    /** Starts a program in the group: through entryCommand, or (pid set) by adding the pid it got. */
    Process start(String... program) throws IOException {
        List<String> command = new ArrayList<>(group.entryCommand());
        command.addAll(Arrays.asList(program));
        Process process = new ProcessBuilder(command).redirectErrorStream(true)
                .redirectOutput(dir.resolve("out-" + processes.size()).toFile()).start();
        processes.add(process);
        if (group.entryCommand().isEmpty()) {
            group.addProcess((int) process.pid());
        }
        return process;
    }

    /** Starts the child + grandchild tree, returns its counter files once both count. */
    List<Path> startTree() throws IOException {
        Path child = dir.resolve("child");
        Path grandchild = dir.resolve("grandchild");
        treePid = (int) start("/bin/sh", "-c", TREE, "tree", child.toString(), grandchild.toString()).pid();
        List<Path> counters = List.of(child, grandchild);
        await("both counters of the process tree count").atMost(Duration.ofSeconds(20))
                .until(() -> counters.stream().allMatch(f -> number(f) >= 3));
        return counters;
    }

    /** Starts a Java child with the given number of counting threads; returns its file once every slot counts. */
    Path startThreads(int threads) throws IOException {
        Path file = dir.resolve("threads-" + threads);
        String java = Path.of(System.getProperty("java.home"), "bin", "java").toString();
        start(java, "-Xmx64m", "-XX:TieredStopAtLevel=1", "-cp", System.getProperty("lockstep.testClasspath"),
                ThreadedCounter.class.getName(), file.toString(), Integer.toString(threads));
        await("all " + threads + " threads count").atMost(Duration.ofSeconds(30))
                .until(() -> Arrays.stream(slots(file, threads)).allMatch(n -> n >= 2));
        return file;
    }

    FreezeGuard arm(Duration maxFrozen) throws IOException {
        FreezeGuard guard = FreezeGuard.arm(group.freezer(), maxFrozen);
        guards.add(guard);
        return guard;
    }

    /** A v1 freezer cgroup under this test's root, to hold a group task where the group's freezer cannot reach it. */
    GroupCgroup blocker() throws IOException {
        GroupCgroup blocker = layout.withBackend(Backend.CGROUP_V1_FREEZER).forGroup("blocker");
        blocker.create();
        extraGroups.add(blocker);
        return blocker;
    }

    /** Content of every file now. */
    static Map<Path, String> snapshot(List<Path> files) {
        Map<Path, String> contents = new LinkedHashMap<>();
        for (Path f : files) {
            contents.put(f, Arrays.toString(readBytes(f)));
        }
        return contents;
    }

    /** Waits until the reference counter outside the group has ticked {@code ticks} more times. */
    void awaitReferenceTicks(int ticks) {
        long start = number(reference);
        await("reference counter outside the group advances by " + ticks).atMost(Duration.ofSeconds(20))
                .until(() -> number(reference) >= start + ticks);
    }

    /** Waits until every file differs from its snapshot. */
    static void awaitAllMove(Map<Path, String> frozen) {
        await("every counter moves again after thaw").atMost(Duration.ofSeconds(20))
                .until(() -> !frozen.entrySet().stream().anyMatch(e -> Arrays.toString(readBytes(e.getKey())).equals(e.getValue())));
    }

    static long number(Path file) {
        String text = new String(readBytes(file)).trim();
        return text.isEmpty() ? 0 : Long.parseLong(text);
    }

    static long[] slots(Path file, int threads) {
        byte[] bytes = readBytes(file);
        long[] slots = new long[threads];
        java.nio.ByteBuffer buffer = java.nio.ByteBuffer.wrap(bytes);
        for (int i = 0; i < threads && 8 * i + 8 <= bytes.length; i++) {
            slots[i] = buffer.getLong(8 * i);
        }
        return slots;
    }

    private static byte[] readBytes(Path file) {
        try {
            return Files.readAllBytes(file);
        } catch (NoSuchFileException e) {
            return new byte[0];
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    /**
     * Cancels guards, kills every process, removes the cgroups and the root.
     *
     * @return whether the group (or a blocker) was still frozen when the test ended
     */
    boolean cleanUp() throws IOException {
        boolean leftFrozen = group.isFrozen();
        for (GroupCgroup extra : extraGroups) {
            leftFrozen |= extra.isFrozen();
        }
        for (FreezeGuard guard : guards) {
            guard.cancel();
        }
        for (GroupCgroup extra : extraGroups) {
            extra.freezer().thaw();
        }
        assertThat(group.killAll(Duration.ofSeconds(10))).as("all processes of %s killed", group).isTrue();
        for (GroupCgroup extra : extraGroups) {
            assertThat(extra.killAll(Duration.ofSeconds(10))).as("all processes of %s killed", extra).isTrue();
            extra.remove();
        }
        for (Process process : processes) {
            process.destroyForcibly();
            try {
                process.waitFor();
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
        }
        group.remove();
        layout.removeRootIfEmpty();
        group.path().ifPresent(p -> assertThat(p).as("group cgroup removed").doesNotExist());
        layout.cgroup2Mount().ifPresent(m -> assertThat(m.resolve(layout.root())).as("cgroup2 root removed").doesNotExist());
        layout.freezerV1Mount().ifPresent(m -> assertThat(m.resolve(layout.root())).as("v1 freezer root removed").doesNotExist());
        return leftFrozen;
    }

    @Override
    public void close() throws IOException {
        assertThat(cleanUp()).as("%s left frozen at the end of the test", group).isFalse();
    }
}
