package io.lockstep.agent.server;

import io.lockstep.proto.FreezeRequest;
import io.lockstep.proto.OpRecord;
import io.lockstep.proto.PrepareRequest;

/**
 * Deadlines travel as durations and become instants on this host's clock when they arrive: an
 * absolute time written on the coordinator's clock is wrong by whatever the two clocks differ
 * (a minute ahead here, and every freeze would fail at once). Requests that carry only an absolute
 * deadline (older coordinators, tools) keep it.
 */
final class LocalDeadline {
    private LocalDeadline() {
    }

    static FreezeRequest onThisClock(FreezeRequest request) {
        return request.getTimeoutMs() <= 0 ? request
                : request.toBuilder().setDeadlineUnixMs(System.currentTimeMillis() + request.getTimeoutMs()).build();
    }

    static PrepareRequest onThisClock(PrepareRequest request) {
        return request.getTimeoutMs() <= 0 ? request
                : request.toBuilder().setDeadlineUnixMs(System.currentTimeMillis() + request.getTimeoutMs()).build();
    }

    static OpRecord onThisClock(OpRecord record) {
        return record.getTimeoutMs() <= 0 ? record
                : record.toBuilder().setDeadlineUnixMs(System.currentTimeMillis() + record.getTimeoutMs()).build();
    }
}
