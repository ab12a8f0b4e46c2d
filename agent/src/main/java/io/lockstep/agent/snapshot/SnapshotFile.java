package io.lockstep.agent.snapshot;

import java.util.Optional;

/**
 * One regular file in a snapshot: its path relative to the data path ("" when the data path is the
 * file), size, permission bits and, where the engine copies the bytes, their sha256.
 */
public record SnapshotFile(String relativePath, long size, int mode, Optional<String> sha256) {
}
