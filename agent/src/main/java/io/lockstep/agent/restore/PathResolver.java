package io.lockstep.agent.restore;

import io.lockstep.proto.FdRecord;
import java.nio.file.Path;
import java.util.Optional;

/** Where a recorded file is on this host, by its portable identity; empty when it is not here. */
@FunctionalInterface
public interface PathResolver {
    Optional<Path> resolve(FdRecord fd);
}
