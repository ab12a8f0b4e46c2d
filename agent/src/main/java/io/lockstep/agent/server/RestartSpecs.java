package io.lockstep.agent.server;

import io.lockstep.files.PrivateFiles;
import io.lockstep.names.RecordedNames;
import io.lockstep.proto.RestartSpec;

import java.io.IOException;
import java.nio.file.DirectoryStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;

/**
 * The restart commands of a group's processes, by pid, kept on disk so that a restarted agent
 * still knows how to restart what it started: {@code <state>/groups/<group>/specs/<pid>.spec}.
 */
public final class RestartSpecs {
    private final Path dir;
    private final Map<Integer, RestartSpec> byPid = new ConcurrentHashMap<>();
    /** Told of every spec with a pre-freeze hook, loaded or put. */
    private final Runnable onHooked;

    public RestartSpecs(Path dir) {
        this(dir, () -> { });
    }

    RestartSpecs(Path dir, Runnable onHooked) {
        this.dir = dir;
        this.onHooked = onHooked;
    }

    /** Whether the spec's program has a pre-freeze hook (a command or a signal). */
    public static boolean hooked(RestartSpec spec) {
        return spec.hasHook() && (!spec.getHook().getCommand().isEmpty() || spec.getHook().getSignal() != 0);
    }

    /** Loads the specs of processes still in the group; forgets the rest. */
    public void load(Set<Integer> livePids) throws IOException {
        if (!Files.isDirectory(dir)) {
            return;
        }
        try (DirectoryStream<Path> files = Files.newDirectoryStream(dir, "*.spec")) {
            for (Path file : files) {
                String name = file.getFileName().toString();
                int pid = Integer.parseInt(name.substring(0, name.length() - ".spec".length()));
                if (livePids.contains(pid)) {
                    RestartSpec spec = RecordedNames.inflate(RestartSpec.parseFrom(Files.readAllBytes(file)));
                    byPid.put(pid, spec);
                    if (hooked(spec)) {
                        onHooked.run();
                    }
                } else {
                    Files.deleteIfExists(file);
                }
            }
        }
    }

    public void put(int pid, RestartSpec spec) throws IOException {
        PrivateFiles.createDirectories(dir);
        PrivateFiles.writeAtomically(dir.resolve(pid + ".spec"), RecordedNames.deflate(spec).toByteArray(), false);
        byPid.put(pid, spec);
        if (hooked(spec)) {
            onHooked.run();
        }
    }

    /** Whether any recorded spec has a pre-freeze hook. */
    boolean anyHooked() {
        return byPid.values().stream().anyMatch(RestartSpecs::hooked);
    }

    /** The specs of the given pids (processes without one are absent). */
    public Map<Integer, RestartSpec> forPids(Set<Integer> pids) {
        Map<Integer, RestartSpec> specs = new java.util.HashMap<>();
        for (int pid : pids) {
            RestartSpec spec = byPid.get(pid);
            if (spec != null) {
                specs.put(pid, spec);
            }
        }
        return specs;
    }
}
