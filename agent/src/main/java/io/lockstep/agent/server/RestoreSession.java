package io.lockstep.agent.server;

import io.lockstep.agent.restore.StubHandle;
import io.lockstep.proto.OpContext;
import io.lockstep.proto.ProcessRecord;

import java.util.LinkedHashMap;
import java.util.Map;

/** A group's restore on this host: the op, its stubs by recorded process, and the watchdog. */
final class RestoreSession {
    /** A recorded process: pids repeat across hosts, so the source host is part of the key. */
    record Recorded(String sourceHost, int oldPid) {
    }

    record Staged(ProcessRecord process, StubHandle handle) {
    }

    private final OpContext op;
    private final long deadlineUnixMs;
    private final Map<Recorded, Staged> stubs = new LinkedHashMap<>();
    private OpWatch watch;

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

    OpWatch watch() {
        return watch;
    }

    void watch(OpWatch value) {
        this.watch = value;
    }
}
