package io.lockstep.coordinator.store;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

/** A manifest, once written, is never replaced: a reused checkpoint id fails instead of destroying a checkpoint. */
class StoreNeverOverwritesTest {
    @TempDir
    Path dir;

    @Test
    void aSecondManifestUnderTheSameIdIsRefusedAndTheFirstStaysIntact() throws IOException {
        FileCheckpointStore store = new FileCheckpointStore(dir.resolve("store"));
        byte[] committed = "committed manifest".getBytes(StandardCharsets.UTF_8);
        CheckpointStore.StoredManifest first = store.write("app", "ckpt-000001", "h1", committed);

        assertThatThrownBy(() -> store.write("app", "ckpt-000001", "h1", "from another ZooKeeper".getBytes(StandardCharsets.UTF_8)))
                .isInstanceOf(IOException.class)
                .hasMessageContaining("refusing to overwrite manifest " + store.manifestPath("app", "ckpt-000001", "h1"))
                .hasMessageContaining("checkpoint ckpt-000001 of group app");

        assertThat(store.readVerified("app", "ckpt-000001", "h1", first.sha256(), first.size())).isEqualTo(committed);
        try (var left = Files.list(store.checkpointDir("app", "ckpt-000001"))) {
            assertThat(left).as("no temp file left behind").containsExactly(store.manifestPath("app", "ckpt-000001", "h1"));
        }
    }
}
