package io.lockstep.coordinator.op;

import io.lockstep.coordinator.agents.AgentClient;
import org.junit.jupiter.api.Test;

import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

import static org.assertj.core.api.Assertions.assertThat;

/** A restore sends each manifest on its own: its validate and stage still show as one phase, counted right. */
class AgentFanoutProgressTest {
    @Test
    void aPhaseOfSeveralCallsStartsOnceAndCountsItsCallsOutOfTheirTotal() throws Exception {
        Map<String, AgentClient> agents = new LinkedHashMap<>();
        agents.put("hostA", null);
        agents.put("hostC", null);
        List<String> events = new ArrayList<>();
        OperationListener recording = new OperationListener() {
            @Override
            public synchronized void phaseStarted(String phase, int total) {
                events.add(phase + ": started on " + total);
            }

            @Override
            public synchronized void hostDone(String phase, String hostId, int done, int total, String detail) {
                events.add(phase + ": " + hostId + " (" + done + "/" + total + ")");
            }
        };

        try (AgentFanout fanout = new AgentFanout(agents, recording)) {
            fanout.expect("validate", 2);
            fanout.on(List.of("hostA"), "validate", FailureReason.VALIDATION_FAILED, (host, agent) -> "ok", ok -> ok);
            fanout.on(List.of("hostC"), "validate", FailureReason.VALIDATION_FAILED, (host, agent) -> "ok", ok -> ok);
            fanout.on(List.of("hostA", "hostC"), "prepare", FailureReason.LOCK_CONFLICT, (host, agent) -> "ok", ok -> ok);
        }

        assertThat(events.subList(0, 4)).containsExactly("validate: started on 2", "validate: hostA (1/2)",
                "validate: hostC (2/2)", "prepare: started on 2");
        // A parallel phase: hosts answer in any order, the count still runs 1, 2.
        assertThat(events.subList(4, events.size())).extracting(event -> event.replaceAll("host[AC] ", ""))
                .containsExactly("prepare: (1/2)", "prepare: (2/2)");
    }
}
