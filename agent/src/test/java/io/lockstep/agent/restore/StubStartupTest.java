package io.lockstep.agent.restore;

import static io.lockstep.agent.restore.StubFixture.deadline;
import static io.lockstep.agent.restore.StubFixture.fd;

import io.lockstep.agent.nativeio.LibC;
import io.lockstep.proto.StubPlan;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;

/** Measures (prints, never asserts) how long a stub takes from start to STAGED. */
class StubStartupTest {
    private static final int RUNS = 5;

    @Test
    void measureStartUpToStaged() throws Exception {
        StubJvm fast = StubJvm.current();
        report("fast-start options " + fast.options(), fast);
        report("default JVM options", fast.withOptions(List.of()));
        report("-XX:TieredStopAtLevel=1 -Xshare:auto only",
                fast.withOptions(List.of("-XX:TieredStopAtLevel=1", "-Xshare:auto")));
    }

    private static void report(String label, StubJvm jvm) throws Exception {
        List<Long> connectMs = new ArrayList<>();
        List<Long> stagedMs = new ArrayList<>();
        for (int i = 0; i < RUNS; i++) {
            try (StubFixture fixture = new StubFixture(jvm)) {
                Path a = fixture.file("a", 10);
                StubPlan plan = fixture.plan(List.of(fd(3, a, LibC.O_RDWR, 0), fd(200, a, LibC.O_RDONLY, 0)),
                        "exit 0", Map.of());
                long start = System.nanoTime();
                StubHandle stub = fixture.launch(plan);
                long connected = System.nanoTime();
                stub.stage(deadline());
                long staged = System.nanoTime();
                connectMs.add((connected - start) / 1_000_000);
                stagedMs.add((staged - start) / 1_000_000);
            }
        }
        System.out.printf("restore stub start-up, %s: connected %s ms, STAGED %s ms (median %d ms)%n",
                label, connectMs, stagedMs, stagedMs.stream().sorted().toList().get(RUNS / 2));
    }
}
