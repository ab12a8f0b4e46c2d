package io.lockstep.bench;

import org.junit.jupiter.api.Test;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * Rule: what the docs say a full bench run takes at most is true — the suites' hard time budgets
 * plus the build fit in it, and bench/run.sh and the README state that same bound.
 */
class FullRunBudgetTest {
    @Test
    void theSuitesBudgetsAndTheBuildFitInTheStatedBound() {
        Duration suites = BenchMain.SUITES.stream().map(BenchSuite::budget).reduce(Duration.ZERO, Duration::plus);

        assertThat(suites.plus(BenchMain.BUILD_ALLOWANCE)).as("budgets %s + build %s", suites, BenchMain.BUILD_ALLOWANCE)
                .isLessThanOrEqualTo(BenchMain.FULL_RUN_AT_MOST);
    }

    @Test
    void runShAndTheReadmeStateTheBound() throws IOException {
        String bound = "at most " + BenchMain.FULL_RUN_AT_MOST.toMinutes() + " minutes on 2 cores";
        // Surefire runs in the module's directory (bench/).
        Path repository = Path.of("").toAbsolutePath().getParent();

        assertThat(Files.readString(repository.resolve("bench/run.sh"))).as("bench/run.sh").contains(bound);
        assertThat(Files.readString(repository.resolve("README.md")).replaceAll("\\s+", " ")).as("README.md").contains(bound);
    }
}
