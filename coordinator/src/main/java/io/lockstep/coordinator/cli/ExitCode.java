package io.lockstep.coordinator.cli;

import io.lockstep.coordinator.op.FailureReason;

import java.util.LinkedHashMap;
import java.util.Map;

/** The coordinator's exit codes: distinct per kind of failure, so that scripts can react to each. */
public enum ExitCode {
    OK(0, "success"),
    INTERNAL_ERROR(1, "internal error (a bug, or an unexpected I/O failure)"),
    USAGE(2, "bad arguments or usage"),
    ABORTED(3, "the operation was aborted (a pre-freeze hook, freeze, capture, store or commit failed); nothing was committed"),
    NO_AGENTS(4, "no such group, or no live process of the group on any agent"),
    ZK_UNAVAILABLE(5, "ZooKeeper unreachable or lost"),
    GROUP_BUSY(6, "another operation holds the group"),
    RESTORE_REFUSED(7, "restore refused: a file is missing or changed on a target host"),
    LOCK_CONFLICT(8, "a lock is held by a process outside the group"),
    TIMEOUT(9, "a deadline passed"),
    AGENT_UNAVAILABLE(10, "a participating agent does not answer"),
    CHECKPOINT_UNUSABLE(11, "checkpoint not found, or its manifests are missing or corrupt"),
    GROUP_RUNNING(12, "restore refused: the group still runs on a source or target host (--replace stops it)"),
    RELEASE_FAILED(13, "the restore committed, but releasing some processes into their programs failed");

    private final int code;
    private final String meaning;

    ExitCode(int code, String meaning) {
        this.code = code;
        this.meaning = meaning;
    }

    public int code() {
        return code;
    }

    public String meaning() {
        return meaning;
    }

    /** The one place where an operation's failure becomes an exit code. */
    public static ExitCode of(FailureReason reason) {
        return switch (reason) {
            case GROUP_BUSY -> GROUP_BUSY;
            case NO_PARTICIPANTS, UNKNOWN_GROUP, PROCESSES_GONE -> NO_AGENTS;
            case GROUP_RUNNING -> GROUP_RUNNING;
            case AGENT_UNAVAILABLE -> AGENT_UNAVAILABLE;
            case HOOK_FAILED, FREEZE_FAILED, CAPTURE_FAILED, STORE_FAILED, COMMIT_FAILED, STALE_EPOCH, ABORTED_ELSEWHERE,
                 STAGE_FAILED, ROLLBACK_FAILED -> ABORTED;
            case BARRIER_TIMEOUT, TIMEOUT -> TIMEOUT;
            case ZK_UNAVAILABLE -> ZK_UNAVAILABLE;
            case CHECKPOINT_UNUSABLE -> CHECKPOINT_UNUSABLE;
            case VALIDATION_FAILED -> RESTORE_REFUSED;
            case LOCK_CONFLICT -> LOCK_CONFLICT;
            case INTERNAL -> INTERNAL_ERROR;
        };
    }

    /** For the "Exit codes:" section of every command's help. */
    public static Map<String, String> helpList() {
        Map<String, String> list = new LinkedHashMap<>();
        for (ExitCode exit : values()) {
            list.put(Integer.toString(exit.code), exit.meaning);
        }
        return list;
    }
}
