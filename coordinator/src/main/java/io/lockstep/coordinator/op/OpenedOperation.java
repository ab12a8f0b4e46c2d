package io.lockstep.coordinator.op;

import io.lockstep.proto.OpContext;
import io.lockstep.proto.OpRecord;

import java.util.List;

/** An operation after it was opened in ZooKeeper: its id, fencing epoch and participants. */
public record OpenedOperation(String group, OpRecord record) {
    public String opId() {
        return record.getOpId();
    }

    public long epoch() {
        return record.getEpoch();
    }

    public List<String> participants() {
        return record.getParticipantsList();
    }

    public OpContext context() {
        return OpContext.newBuilder().setGroup(group).setOpId(opId()).setEpoch(epoch()).build();
    }
}
