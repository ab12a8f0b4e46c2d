package io.lockstep.coordinator.testing;

import java.io.IOException;
import java.nio.channels.FileChannel;
import java.nio.channels.FileLock;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.Comparator;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Set;
import java.util.UUID;
import java.util.stream.Stream;

/**
 * The directories that deployments create on this machine's file system as bind-mount targets of
 * their services (e.g. {@code /etc/lockstep/tls}: the units' fixed paths), shared by every deployment
 * running at the same time, in this JVM or another (the suite runs test JVMs side by side). Removing
 * such a directory while another deployment's service has a mount on it detaches that mount in the
 * service's namespace (Linux lets a mount point of another namespace be removed), and its files are
 * gone under it. So the targets are listed in one file and removed only by the last deployment to
 * end; each live deployment holds a marker named with its JVM's pid (a crashed JVM's marker does not
 * count). Every step runs under a file lock (fcntl, between JVMs) and a monitor (within one). The
 * directory of the lock and the markers stays in /run (a tmpfs): removing a lock file other JVMs may
 * have open would let two of them lock different files.
 */
final class SharedMountTargets implements AutoCloseable {
    private static final Path DIR = Path.of("/run/lockstep-test-mount-targets");
    private static final Path LOCK = DIR.resolve("lock");
    private static final Path TARGETS = DIR.resolve("targets");
    private static final Path USERS = DIR.resolve("users");
    private static final Object IN_THIS_JVM = new Object();

    private final Path marker;

    private SharedMountTargets(Path marker) {
        this.marker = marker;
    }

    /** Registers one more live deployment. */
    static SharedMountTargets join() throws IOException {
        Path marker = USERS.resolve(ProcessHandle.current().pid() + "-" + UUID.randomUUID());
        locked(() -> Files.createFile(marker));
        return new SharedMountTargets(marker);
    }

    /** Creates {@code target} (and its missing parents), recording the first directory it created. */
    void create(Path target) throws IOException {
        locked(() -> {
            Path missing = target;
            while (missing.getParent() != null && !Files.exists(missing.getParent())) {
                missing = missing.getParent();
            }
            if (!Files.exists(target)) {
                Files.writeString(TARGETS, missing + "\n", StandardCharsets.UTF_8, StandardOpenOption.CREATE,
                        StandardOpenOption.APPEND);
                Files.createDirectories(target);
            }
        });
    }

    /** Unregisters this deployment; the last one removes every recorded target. */
    @Override
    public void close() throws IOException {
        locked(() -> {
            Files.deleteIfExists(marker);
            if (othersAlive()) {
                return;
            }
            if (Files.exists(TARGETS)) {
                Set<String> targets = new LinkedHashSet<>(Files.readAllLines(TARGETS, StandardCharsets.UTF_8));
                for (String target : targets) {
                    if (!target.isBlank() && Files.exists(Path.of(target))) {
                        try (Stream<Path> files = Files.walk(Path.of(target))) {
                            files.sorted(Comparator.reverseOrder()).forEach(path -> path.toFile().delete());
                        }
                    }
                }
                Files.delete(TARGETS);
            }
        });
    }

    private static boolean othersAlive() throws IOException {
        try (Stream<Path> users = Files.list(USERS)) {
            List<Path> all = users.toList();
            boolean alive = false;
            for (Path user : all) {
                long pid = Long.parseLong(user.getFileName().toString().split("-", 2)[0]);
                if (ProcessHandle.of(pid).isPresent()) {
                    alive = true;
                } else {
                    Files.deleteIfExists(user); // a crashed JVM's marker
                }
            }
            return alive;
        }
    }

    private interface Step {
        void run() throws IOException;
    }

    private static void locked(Step step) throws IOException {
        synchronized (IN_THIS_JVM) {
            Files.createDirectories(USERS);
            try (FileChannel channel = FileChannel.open(LOCK, StandardOpenOption.CREATE, StandardOpenOption.WRITE);
                 FileLock ignored = channel.lock()) {
                step.run();
            }
        }
    }
}
