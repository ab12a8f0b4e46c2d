package io.lockstep.agent.restore;

import io.lockstep.proto.FdRecord;
import io.lockstep.proto.ServerMatch;
import java.util.Optional;

/**
 * Where a recorded file is on this host, by its portable identity; empty when it is not here. A
 * path is a {@link io.lockstep.names.RawNames} string: names are bytes.
 */
@FunctionalInterface
public interface PathResolver {
    Optional<String> resolve(FdRecord fd);

    /** {@link #resolve} with what a validation report says about it. */
    default Lookup lookup(FdRecord fd) {
        return resolve(fd).map(Lookup::byIdentity).orElseGet(() -> Lookup.missing("not found on this host"));
    }

    /**
     * How a recorded file was looked up.
     *
     * @param path where it is here; empty when it is not
     * @param match for a network file, why its server was taken to be the recorded one
     * @param byIdentity found where its identity leads (not moved by a path map): the recorded
     *     file handle, if any, must match the file found
     * @param whyMissing when not found, what was looked for and what is here instead
     */
    record Lookup(Optional<String> path, Optional<ServerMatch> match, boolean byIdentity, String whyMissing) {
        public static Lookup byIdentity(String path) {
            return new Lookup(Optional.of(path), Optional.empty(), true, "");
        }

        public static Lookup missing(String why) {
            return new Lookup(Optional.empty(), Optional.empty(), false, why);
        }
    }
}
