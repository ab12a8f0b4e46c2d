package io.lockstep.agent.server;

import io.lockstep.agent.restore.StubHandle;
import io.lockstep.proto.OpContext;
import io.lockstep.proto.ProcessRecord;

import io.lockstep.proto.HandOver;
import io.lockstep.proto.LockRecord;

import java.time.Duration;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.CompletableFuture;

/** A group's restore on this host: the op, its stubs by recorded process, and the watchdog. */
final class RestoreSession {
    /** A recorded process: pids repeat across hosts, so the source host is part of the key. */
    record Recorded(String sourceHost, int oldPid) {
    }

    /** A staged stub; {@code taken} are the locks its prepare rounds took (guarded by the group's monitor). */
    record Staged(ProcessRecord process, StubHandle handle, List<LockRecord> taken) {
        Staged(ProcessRecord process, StubHandle handle) {
            this(process, handle, new ArrayList<>());
        }
    }

    private final OpContext op;
    private final long deadlineUnixMs;
    private final Map<Recorded, Staged> stubs = new LinkedHashMap<>();
    /** Waiters for a handed-over lock: released only by a second release, or after the hand-over timeout. */
    private final Set<Recorded> heldBack = new HashSet<>();
    private final List<CompletableFuture<List<HandOver>>> handOvers = new ArrayList<>();
    private Duration handOverTimeout = Duration.ofSeconds(30);
    private OpWatch watch;
    /** Why the session is being ended (a release or an abort began), or null; guarded by the group's monitor. */
    private String endedBy;

    RestoreSession(OpContext op, long deadlineUnixMs) {
        this.op = op;
        this.deadlineUnixMs = deadlineUnixMs;
    }

    OpContext op() {
        return op;
    }

    long deadlineUnixMs() {
        return deadlineUnixMs;
    }

    Map<Recorded, Staged> stubs() {
        return stubs;
    }

    int stubCount() {
        return stubs.size();
    }

    /** Guarded by the group's monitor, like the stubs. */
    Set<Recorded> heldBack() {
        return heldBack;
    }

    synchronized void handOverTimeout(Duration value) {
        handOverTimeout = value;
    }

    synchronized Duration handOverTimeout() {
        return handOverTimeout;
    }

    synchronized void addHandOvers(CompletableFuture<List<HandOver>> checks) {
        handOvers.add(checks);
    }

    /** Every hand-over check started so far, released programs' locks taken again or timed out. */
    synchronized List<CompletableFuture<List<HandOver>>> handOvers() {
        return List.copyOf(handOvers);
    }

    /**
     * Once a release or an abort began, no stub may join: it would be neither released nor ended,
     * and would stay in the group's cgroup with its locks. Guarded by the group's monitor.
     */
    void ending(String reason) {
        if (endedBy == null) {
            endedBy = reason;
        }
    }

    /** Why the session is being ended, or null while stubs may still join. Guarded by the group's monitor. */
    String endedBy() {
        return endedBy;
    }

    OpWatch watch() {
        return watch;
    }

    void watch(OpWatch value) {
        this.watch = value;
    }
}
