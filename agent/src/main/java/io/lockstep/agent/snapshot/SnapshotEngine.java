package io.lockstep.agent.snapshot;

/**
 * One way to keep a data path's content as it is at a checkpoint and to put it back. Snapshots are
 * taken inside the frozen window, so {@link #take} must be bounded; roll-back and deletion run later.
 */
public interface SnapshotEngine {
    /** The engine's name as operators write it: reflink, btrfs, command, copy. */
    String name();

    /**
     * Takes the snapshot. On failure nothing of it is left behind.
     *
     * @throws SnapshotRefusedException when the engine refuses before writing (size bound, wrong file system)
     */
    Snapshot take(String checkpointId, DataPath dataPath) throws SnapshotException;

    /**
     * Makes a snapshot {@link #take} left in the page cache durable, and completes what the window left for later
     * (the copy engine's sha256 per file). Called after the thaw, before the checkpoint may commit (the Capture call
     * that brings the manifest to the coordinator): a failure aborts the checkpoint. Returns the snapshot as the
     * manifest records it.
     */
    default Snapshot makeDurable(Snapshot snapshot) throws SnapshotException {
        return snapshot;
    }

    /**
     * Puts the data path back to the snapshot's content. Either every file is replaced (each atomically)
     * or, on a {@link RollBackException}, none is.
     */
    RollBackReport rollBack(Snapshot snapshot) throws SnapshotException;

    /** Deletes the snapshot (retention, or an aborted checkpoint). Deleting one already gone is not an error. */
    void delete(Snapshot snapshot) throws SnapshotException;
}
