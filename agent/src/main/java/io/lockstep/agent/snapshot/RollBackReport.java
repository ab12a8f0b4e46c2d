package io.lockstep.agent.snapshot;

import java.nio.file.Path;
import java.util.List;
import java.util.Map;

/**
 * What a roll-back did: the files it put back with the sha256 of their content now, and the files it
 * removed because they were created after the checkpoint.
 */
public record RollBackReport(Path dataPath, Map<String, String> restoredSha256, List<String> removed) {
    public RollBackReport {
        restoredSha256 = Map.copyOf(restoredSha256);
        removed = List.copyOf(removed);
    }
}
