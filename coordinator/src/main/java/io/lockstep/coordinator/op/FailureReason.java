package io.lockstep.coordinator.op;

/** Why an operation did not commit. One enum for checkpoint and restore, mapped to exit codes by the CLI. */
public enum FailureReason {
    /** Another operation holds the group's lock. */
    GROUP_BUSY,
    /** No agent has processes of the group. */
    NO_PARTICIPANTS,
    /** No group of that name: no member, no checkpoint, no operation ever. */
    UNKNOWN_GROUP,
    /** Checkpoint: the group's members have no live process left; committing would replace real state with nothing. */
    PROCESSES_GONE,
    /** Restore: the group still has live processes on a source or target host. */
    GROUP_RUNNING,
    /** A participating agent is registered but does not answer. */
    AGENT_UNAVAILABLE,
    /** Checkpoint: a program's pre-freeze hook failed, timed out or was not acknowledged; nothing was frozen. */
    HOOK_FAILED,
    /** An agent could not freeze its part of the group by the deadline. */
    FREEZE_FAILED,
    /** A barrier did not fill before the deadline. */
    BARRIER_TIMEOUT,
    /** An agent failed to capture, or its manifest arrived damaged. */
    CAPTURE_FAILED,
    /** The store could not durably write a manifest. */
    STORE_FAILED,
    /** The commit transaction failed: a participant's barrier node vanished (session expired). */
    COMMIT_FAILED,
    /** An agent has seen a newer epoch: this coordinator is stale. */
    STALE_EPOCH,
    /** Someone else (an agent's watchdog, another coordinator) decided ABORT first. */
    ABORTED_ELSEWHERE,
    /** ZooKeeper could not be reached or was lost during the operation. */
    ZK_UNAVAILABLE,
    /** Restore: the checkpoint, its catalog entry or a manifest is missing or corrupt. */
    CHECKPOINT_UNUSABLE,
    /** Restore: a file is missing or changed on a target host. */
    VALIDATION_FAILED,
    /** Restore: a snapshot could not be rolled back; the data paths not yet rolled back are untouched. */
    ROLLBACK_FAILED,
    /** Restore: a stub could not be staged. */
    STAGE_FAILED,
    /** Restore: a lock is held by a process outside the group past the deadline. */
    LOCK_CONFLICT,
    /** The operation's overall deadline passed. */
    TIMEOUT,
    /** Something failed that no step expects (a bug, or an unexpected I/O failure): the message names it. */
    INTERNAL,
}
