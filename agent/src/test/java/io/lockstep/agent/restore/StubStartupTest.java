package io.lockstep.agent.restore;

import static io.lockstep.agent.restore.StubFixture.deadline;
import static io.lockstep.agent.restore.StubFixture.fd;

import io.lockstep.agent.nativeio.LibC;
import io.lockstep.proto.StubPlan;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;

/**
 * Measures (prints, never asserts) how long a stub takes from start to STAGED. The JVM option
 * sets take turns, so that load from elsewhere on the machine falls on all of them alike.
 */
class StubStartupTest {
    private static final int ROUNDS = 5;

    @Test
    void measureStartUpToStaged() throws Exception {
        StubJvm fast = StubJvm.current();
        Map<String, StubJvm> variants = new LinkedHashMap<>();
        variants.put("fast-start options " + fast.options(), fast);
        variants.put("-XX:TieredStopAtLevel=1 -Xshare:auto only",
                fast.withOptions(List.of("-XX:TieredStopAtLevel=1", "-Xshare:auto")));
        variants.put("default JVM options", fast.withOptions(List.of()));
        Map<String, List<Long>> stagedMs = new LinkedHashMap<>();
        variants.keySet().forEach(k -> stagedMs.put(k, new ArrayList<>()));
        for (int round = 0; round < ROUNDS; round++) {
            for (Map.Entry<String, StubJvm> variant : variants.entrySet()) {
                stagedMs.get(variant.getKey()).add(timeToStaged(variant.getValue()));
            }
        }
        stagedMs.forEach((label, times) -> System.out.printf(
                "restore stub start-up to STAGED, %s: %s ms (median %d ms)%n",
                label, times, times.stream().sorted().toList().get(ROUNDS / 2)));
    }

    private static long timeToStaged(StubJvm jvm) throws Exception {
        try (StubFixture fixture = new StubFixture(jvm)) {
            Path a = fixture.file("a", 10);
            StubPlan plan = fixture.plan(List.of(fd(3, a, LibC.O_RDWR, 0), fd(200, a, LibC.O_RDONLY, 0)),
                    "exit 0", Map.of());
            long start = System.nanoTime();
            fixture.launch(plan).stage(deadline());
            return (System.nanoTime() - start) / 1_000_000;
        }
    }
}
