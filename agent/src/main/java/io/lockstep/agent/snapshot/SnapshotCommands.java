package io.lockstep.agent.snapshot;

/**
 * The operator's shell commands for the command engine. {@code {id}} is replaced by the checkpoint id and
 * {@code {path}} by the data path, both shell-quoted; the same values are in the environment as
 * LOCKSTEP_CHECKPOINT and LOCKSTEP_DATA_PATH.
 */
public record SnapshotCommands(String snapshot, String rollBack, String delete) {
    public SnapshotCommands {
        if (snapshot.isBlank() || rollBack.isBlank() || delete.isBlank()) {
            throw new IllegalArgumentException("the command engine needs a snapshot, a roll-back and a delete command");
        }
    }
}
