package io.lockstep.agent.hooks;

import io.lockstep.names.RawNames;
import io.lockstep.proto.Hook;
import io.lockstep.proto.RestartSpec;

/** A process of a group on this host that registered hooks (its restart spec carries them). */
public record HookedProcess(String group, int pid, RestartSpec spec) {
    public Hook hook() {
        return spec.getHook();
    }

    /** argv[0] as the operator typed it, for messages. */
    public String program() {
        return spec.getArgvCount() == 0 ? "?" : RawNames.display(spec.getArgv(0));
    }

    /** "pid 123 (/usr/bin/prog)". */
    public String describe() {
        return "pid " + pid + " (" + program() + ")";
    }
}
