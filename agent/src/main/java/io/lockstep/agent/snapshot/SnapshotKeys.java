package io.lockstep.agent.snapshot;

import java.nio.charset.StandardCharsets;
import java.util.HexFormat;

/** A short, stable name for a data path inside a checkpoint's snapshot directory. */
final class SnapshotKeys {
    private SnapshotKeys() {
    }

    static String of(String name) {
        byte[] digest = DataFiles.newSha256().digest(name.getBytes(StandardCharsets.UTF_8));
        return HexFormat.of().formatHex(digest, 0, 6);
    }
}
