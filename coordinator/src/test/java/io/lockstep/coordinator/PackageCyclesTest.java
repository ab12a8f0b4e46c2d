package io.lockstep.coordinator;

import org.junit.jupiter.api.Test;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeMap;
import java.util.TreeSet;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.stream.Stream;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * The coordinator's packages form a layered graph: no package reaches itself again through its
 * imports (the operation frame and its results sit below checkpoint and restore, not beside them).
 */
class PackageCyclesTest {
    private static final Path SOURCES = Path.of("src/main/java/io/lockstep/coordinator");
    private static final Pattern REFERENCE = Pattern.compile("io\\.lockstep\\.coordinator\\.([a-z]+)\\.");

    @Test
    void noPackageOfTheCoordinatorDependsOnItselfThroughOthers() throws IOException {
        Map<String, Set<String>> uses = packageGraph();
        assertThat(uses).as("packages found under " + SOURCES.toAbsolutePath()).containsKeys("op", "checkpoint", "restore");
        List<String> cycles = new ArrayList<>();
        for (String start : uses.keySet()) {
            List<String> path = cycleThrough(start, start, uses, new ArrayList<>(List.of(start)), new TreeSet<>());
            if (path != null) {
                cycles.add(String.join(" -> ", path));
            }
        }
        assertThat(cycles).as("package cycles (each edge is an import in src/main)").isEmpty();
    }

    private static Map<String, Set<String>> packageGraph() throws IOException {
        Map<String, Set<String>> uses = new TreeMap<>();
        try (Stream<Path> files = Files.walk(SOURCES)) {
            for (Path file : files.filter(f -> f.toString().endsWith(".java")).toList()) {
                String own = SOURCES.relativize(file).getName(0).toString();
                Set<String> targets = uses.computeIfAbsent(own, p -> new TreeSet<>());
                Matcher matcher = REFERENCE.matcher(Files.readString(file));
                while (matcher.find()) {
                    if (!matcher.group(1).equals(own)) {
                        targets.add(matcher.group(1));
                    }
                }
            }
        }
        return uses;
    }

    /** A path from {@code at} back to {@code start}, or null. */
    private static List<String> cycleThrough(String start, String at, Map<String, Set<String>> uses, List<String> path,
                                             Set<String> seen) {
        for (String next : uses.getOrDefault(at, Set.of())) {
            if (next.equals(start)) {
                List<String> cycle = new ArrayList<>(path);
                cycle.add(start);
                return cycle;
            }
            if (seen.add(next)) {
                path.add(next);
                List<String> found = cycleThrough(start, next, uses, path, seen);
                if (found != null) {
                    return found;
                }
                path.remove(path.size() - 1);
            }
        }
        return null;
    }
}
