package io.lockstep.agent.hooks;

import java.io.IOException;
import java.util.Map;

/** Starts a hook command the way the program itself was started: as its uid/gid, in its cwd, with its environment. */
@FunctionalInterface
public interface HookLauncher {
    /**
     * Starts {@code /bin/sh -c <command>} for {@code process}, with {@code extraEnv} added to the
     * program's recorded environment; its output goes to the program's output file.
     */
    Process start(HookedProcess process, String command, Map<String, String> extraEnv) throws IOException;
}
