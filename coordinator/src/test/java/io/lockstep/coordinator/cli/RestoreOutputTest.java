package io.lockstep.coordinator.cli;

import io.lockstep.coordinator.op.RestoreResult;
import io.lockstep.proto.MatchRule;
import io.lockstep.proto.ServerMatch;
import io.lockstep.proto.StagedProcess;
import org.junit.jupiter.api.Test;

import java.util.List;
import java.util.Map;

import static org.assertj.core.api.Assertions.assertThat;

class RestoreOutputTest {
    @Test
    void theRestoreOutputSaysHowEachHostMatchedTheRecordedExports() {
        RestoreResult result = new RestoreResult("ckpt-000001", "app", "restore-000002", 2,
                Map.of("hB", List.of(StagedProcess.newBuilder().setSourceHostId("hA").setOldPid(10).setNewPid(20).build())),
                Map.of("hB", 1), true, Map.of("validate", 1000L), List.of(),
                Map.of("hB", List.of(ServerMatch.newBuilder().setRecorded("localhost:/export")
                        .setLocal("127.0.0.1:/export").setRule(MatchRule.SHARED_ADDRESS)
                        .setDetail("localhost and 127.0.0.1 both resolve to 127.0.0.1").build())), Map.of(), List.of());
        assertThat(RestoreCommand.toText(result)).contains("  host hB: export localhost:/export found as 127.0.0.1:/export"
                + " (shared address: localhost and 127.0.0.1 both resolve to 127.0.0.1)\n");
    }
}
