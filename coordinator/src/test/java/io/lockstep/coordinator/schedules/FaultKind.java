package io.lockstep.coordinator.schedules;

import java.util.List;

/** The faults a schedule draws from, and the moments at which each can be injected into an operation. */
enum FaultKind {
    /** No fault: the cycle shows that a plain operation still works between faulty ones. */
    NONE,
    /** SIGKILL of the agent JVM of host h2, restarted afterwards. */
    AGENT_KILL,
    /** SIGSTOP of the agent JVM of h2, SIGCONT after a short pause or one past the session timeout. */
    AGENT_PAUSE,
    /** The coordinator's JVM stops dead at the end of a phase and is SIGKILLed there. */
    COORDINATOR_CRASH,
    /** The ZooKeeper server stops (quorum lost entirely) and restarts after a short or a long outage. */
    ZK_OUTAGE,
    /** An old coordinator's Thaw (checkpoint) or Abort (restore) with the previous operation's epoch reaches h1. */
    STALE_EPOCH_RPC,
    /** The checkpoint's store directory cannot be created: the manifest write fails. */
    STORE_WRITE_FAILURE,
    /** Every restore stub of h2 is SIGKILLed between its prepare and the commit (its locks go with it). */
    STUB_KILL,
    /** h2's agent is stopped with SIGTERM before the checkpoint begins (its application runs on); restarted after. */
    AGENT_STOPPED,
    /**
     * The commit multi reaches ZooKeeper, which is then lost before the answer is read, and stays down
     * until the coordinator's client ran out of retries: the coordinator cannot know the outcome.
     */
    ZK_LOST_COMMIT_REPLY,
    /**
     * The coordinator's clock is minutes ahead or behind every agent's for the whole operation. An
     * agent reads no time of another host: deadlines arrive as durations and become instants on its
     * own clock (`LocalDeadline`), its guard counts on CLOCK_MONOTONIC. So what one agent's skewed
     * clock changes is exactly its difference from the coordinator's, which this skews.
     */
    CLOCK_SKEW,
    /** Every restore stub of h2 is SIGKILLed once the last host answered the confirm round, before the release. */
    STUB_KILL_AFTER_CONFIRM,
    /**
     * One restore stub of h2 — its holder's or its waiter's, drawn — is SIGKILLed while the other
     * lives: at the end of prepare or of the confirm round (between prepare and release).
     */
    ONE_STUB_KILL;

    static final String START = "start";

    static List<FaultKind> forOperation(Operation op) {
        return op == Operation.CHECKPOINT
                ? List.of(NONE, AGENT_KILL, AGENT_PAUSE, COORDINATOR_CRASH, ZK_OUTAGE, STALE_EPOCH_RPC, STORE_WRITE_FAILURE,
                        AGENT_STOPPED, ZK_LOST_COMMIT_REPLY, CLOCK_SKEW)
                : List.of(NONE, AGENT_KILL, AGENT_PAUSE, COORDINATOR_CRASH, ZK_OUTAGE, STALE_EPOCH_RPC, STUB_KILL, CLOCK_SKEW,
                        STUB_KILL_AFTER_CONFIRM, ONE_STUB_KILL);
    }

    /** "start" is when the operation's first agent call begins, "after P" when its phase P ended. */
    List<String> moments(Operation op) {
        boolean checkpoint = op == Operation.CHECKPOINT;
        return switch (this) {
            case NONE -> List.of(START);
            case AGENT_PAUSE, ZK_OUTAGE -> checkpoint
                    ? List.of(START, "freeze", "capture", "commit")
                    : List.of(START, "validate", "stage", "prepare", "commit");
            // After a restore's prepare too: its prepared stubs outlive the agent, keep their locks,
            // and the restarted agent carries out the decision (before, seed -5267677590509024309
            // found a restore that committed without the dead agent's processes).
            case AGENT_KILL -> checkpoint ? List.of(START, "freeze", "capture", "commit")
                    : List.of(START, "validate", "stage", "prepare", "commit");
            // The previous epoch is stale for h1 only once h1 admitted the current op.
            case STALE_EPOCH_RPC -> checkpoint ? List.of("freeze", "capture", "commit") : List.of("validate", "stage", "prepare");
            // PausingCoordinator stops at the end of these phases.
            case COORDINATOR_CRASH -> checkpoint ? List.of("freeze", "capture", "commit")
                    : List.of("validate", "stage", "prepare", "commit");
            // Before the capture writes the manifests.
            case STORE_WRITE_FAILURE -> List.of(START, "freeze");
            // Exactly at the end of prepare, before the confirm round: never delayed into the
            // release, where a killed stub would leave a committed restore without its process.
            case STUB_KILL -> List.of("prepare");
            // Before the operation begins, during its commit multi, and the whole operation.
            case AGENT_STOPPED, CLOCK_SKEW -> List.of(START);
            case ZK_LOST_COMMIT_REPLY -> List.of("commit");
            // The confirm round has no phase end of its own: the last host's answer ends it (MomentTrigger).
            case STUB_KILL_AFTER_CONFIRM -> List.of("confirm");
            case ONE_STUB_KILL -> List.of("prepare", "confirm");
        };
    }

    /**
     * Faults that MomentTrigger injects at their moment; the others are set up around the whole
     * operation by the schedule itself (a crash, a stopped agent, a losing ZooKeeper client, a clock).
     */
    boolean triggered() {
        return switch (this) {
            case NONE, COORDINATOR_CRASH, AGENT_STOPPED, ZK_LOST_COMMIT_REPLY, CLOCK_SKEW -> false;
            default -> true;
        };
    }

    /** Faults whose moment can be shifted by a drawn delay (the others happen exactly at a boundary). */
    boolean delayable() {
        return this == AGENT_KILL || this == AGENT_PAUSE || this == ZK_OUTAGE || this == STALE_EPOCH_RPC;
    }

    /** Faults that last a while, drawn short (well within the session timeout) or long (past it). */
    boolean hasDuration() {
        return this == AGENT_PAUSE || this == ZK_OUTAGE;
    }

    enum Operation { CHECKPOINT, RESTORE }
}
