package io.lockstep.agent.restore;

import io.lockstep.agent.nativeio.Native;
import io.lockstep.agent.nativeio.NativeException;
import io.lockstep.names.RawNames;
import io.lockstep.names.RawPaths;

import java.io.IOException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

/**
 * The directories a restore may reopen files and set working directories in ({@code agent serve
 * --allowed-root}); a manifest naming anything else is refused. Paths are compared after every
 * symbolic link is resolved, so a link inside a root cannot lead out of it. The kernel's
 * interfaces under /proc and /sys are never restorable, whatever the roots.
 */
public final class AllowedRoots {
    /** Everything but /proc and /sys: what an agent without --allowed-root accepts. */
    public static final AllowedRoots EVERYWHERE = new AllowedRoots(List.of(Path.of("/")));
    private static final List<Path> NEVER = List.of(Path.of("/proc"), Path.of("/sys"));

    private final List<Path> roots;

    public AllowedRoots(List<Path> roots) {
        if (roots.isEmpty()) {
            throw new IllegalArgumentException("at least one allowed root is needed");
        }
        List<Path> canonical = new ArrayList<>();
        for (Path root : roots) {
            if (!root.isAbsolute()) {
                throw new IllegalArgumentException("allowed root '" + root + "' is not an absolute path");
            }
            canonical.add(realOrNormal(root));
        }
        this.roots = List.copyOf(canonical);
    }

    public List<Path> roots() {
        return roots;
    }

    /**
     * Refuses a path (resolved on this host) that is not under one of the roots.
     *
     * @return the path with every link resolved, which is what a stub then opens
     */
    String require(String what, String path) throws PlanRefusedException {
        String real;
        try {
            real = Native.realpath(path); // names are bytes: not through Path and the JVM's charset
        } catch (NativeException e) {
            throw new PlanRefusedException(what + ": cannot resolve " + RawNames.display(path) + ": " + e.getMessage());
        }
        for (Path never : NEVER) {
            if (RawPaths.isUnder(real, never.toString())) {
                throw new PlanRefusedException(what + ": " + RawNames.display(real) + " is a kernel interface under "
                        + never + ", never restorable");
            }
        }
        for (Path root : roots) {
            if (RawPaths.isUnder(real, root.toString())) {
                return real;
            }
        }
        throw new PlanRefusedException(what + ": " + RawNames.display(real) + " is outside the agent's allowed roots " + roots
                + " (agent serve --allowed-root)");
    }

    private static Path realOrNormal(Path root) {
        try {
            return root.toRealPath();
        } catch (IOException missing) {
            return root.normalize();
        }
    }

    @Override
    public String toString() {
        return roots.toString();
    }
}
