package io.lockstep.agent.cgroup;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.assertj.core.api.Assumptions.assumeThat;
import static org.awaitility.Awaitility.await;

import java.io.IOException;
import java.nio.file.Path;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.stream.Stream;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.EnumSource;
import org.junit.jupiter.params.provider.MethodSource;

/** Real processes, frozen and thawed on every backend this host offers. */
class FreezerTest {
    @TempDir
    Path dir;

    private TestGroup test;

    private TestGroup on(Backend backend) throws IOException {
        test = TestGroup.on(backend, dir);
        return test;
    }

    @AfterEach
    void cleanUp() throws IOException {
        if (test != null) {
            test.close();
        }
    }

    @ParameterizedTest
    @EnumSource(Backend.class)
    void freezesAProcessTreeAndThawsIt(Backend backend) throws IOException {
        TestGroup t = on(backend);
        List<Path> counters = t.startTree();
        Freezer freezer = t.group.freezer();

        FreezeResult result = freezer.freeze(Instant.now().plusSeconds(10));

        assertThat(result.backend()).isEqualTo(backend);
        assertThat(result.degraded()).isEqualTo(backend == Backend.SIGSTOP);
        assertThat(result.tasks()).as("main, child, grandchild").isGreaterThanOrEqualTo(3);
        assertThat(freezer.isFrozen()).isTrue();
        assertThat(t.group.isFrozen()).isTrue();
        Map<Path, String> frozen = TestGroup.snapshot(counters);
        t.awaitReferenceTicks(20);
        assertThat(TestGroup.snapshot(counters)).as("counters while frozen").isEqualTo(frozen);

        freezer.thaw();
        freezer.thaw(); // idempotent

        assertThat(freezer.isFrozen()).isFalse();
        TestGroup.awaitAllMove(frozen);
        System.out.printf("%s: froze %d tasks of a process tree in %d us%n", backend, result.tasks(), result.micros());
    }

    static Stream<Arguments> backendsAndThreads() {
        List<Arguments> combinations = new ArrayList<>();
        for (Backend backend : Backend.values()) {
            combinations.add(Arguments.of(backend, 10));
            combinations.add(Arguments.of(backend, 100));
        }
        return combinations.stream();
    }

    @ParameterizedTest
    @MethodSource("backendsAndThreads")
    void freezesEveryThread(Backend backend, int threads) throws IOException {
        TestGroup t = on(backend);
        Path slots = t.startThreads(threads);
        Freezer freezer = t.group.freezer();

        FreezeResult result = freezer.freeze(Instant.now().plusSeconds(10));

        assertThat(result.tasks()).isGreaterThanOrEqualTo(threads);
        assertThat(t.group.tids()).hasSizeGreaterThanOrEqualTo(threads);
        Map<Path, String> frozen = TestGroup.snapshot(List.of(slots));
        t.awaitReferenceTicks(20);
        assertThat(TestGroup.snapshot(List.of(slots))).as("thread slots while frozen").isEqualTo(frozen);

        freezer.thaw();

        long[] before = TestGroup.slots(slots, threads);
        await("every one of " + threads + " threads counts again").atMost(Duration.ofSeconds(20))
                .until(() -> {
                    long[] now = TestGroup.slots(slots, threads);
                    for (int i = 0; i < threads; i++) {
                        if (now[i] == before[i]) {
                            return false;
                        }
                    }
                    return true;
                });
        System.out.printf("%s: froze %d tasks (%d counting threads) in %d us%n", backend, result.tasks(), threads, result.micros());
    }

    /**
     * A task frozen by a v1 freezer cgroup cannot take part in a cgroup v2 freeze or stop on
     * SIGSTOP: it never leaves the refrigerator. That makes a real unfreezable task on a hybrid host.
     */
    @ParameterizedTest
    @EnumSource(value = Backend.class, names = {"CGROUP_V2", "SIGSTOP"})
    void aFreezeThatCannotCompleteThawsAndNamesTheTask(Backend backend) throws IOException {
        TestGroup t = on(backend);
        assumeThat(t.layout.available()).as("a v1 freezer to hold a task").contains(Backend.CGROUP_V1_FREEZER);
        List<Path> counters = t.startTree();
        int stuck = t.treePid;
        GroupCgroup blocker = t.blocker();
        blocker.addProcess(stuck);
        blocker.freezer().freeze(Instant.now().plusSeconds(10));
        Freezer freezer = t.group.freezer();

        assertThatThrownBy(() -> freezer.freeze(Instant.now().plusMillis(500)))
                .isInstanceOfSatisfying(FreezeTimeoutException.class, e -> {
                    assertThat(e.unfrozen()).extracting(TaskReport::tid).contains(stuck);
                    assertThat(e.unfrozen()).filteredOn(r -> r.tid() == stuck).singleElement()
                            .satisfies(r -> assertThat(r.wchan()).isEqualTo("__refrigerator"))
                            .satisfies(r -> assertThat(r.state()).isEqualTo('D'));
                    assertThat(e.getMessage()).contains("pid " + stuck + " (").contains("__refrigerator")
                            .contains(t.group.path().map(Path::toString).orElse(t.group.name()));
                });

        assertThat(freezer.isFrozen()).as("group thawed after the failed freeze").isFalse();
        Map<Path, String> before = TestGroup.snapshot(counters);
        TestGroup.awaitAllMove(before);
        blocker.freezer().thaw();
    }

    /**
     * The case docs/DESIGN.md names: a task blocked in an unanswered FUSE request. Neither a cgroup v2
     * freeze nor SIGSTOP can stop it on this kernel (the v1 freezer can: it counts that wait as
     * frozen).
     */
    @ParameterizedTest
    @EnumSource(value = Backend.class, names = {"CGROUP_V2", "SIGSTOP"})
    void aTaskInAnUnansweredFuseRequestFailsTheFreezeByItsDeadline(Backend backend) throws IOException {
        TestGroup t = on(backend);
        Path mount = t.unansweredFuseMount();
        int stuck = (int) t.start("/bin/sh", "-c", "exec stat \"$0\"", mount.resolve("file").toString()).pid();
        await("stat blocks in the unanswered FUSE request").atMost(Duration.ofSeconds(20))
                .until(() -> ProcFs.stat(stuck).map(s -> s.comm().equals("stat") && s.state() == 'D').orElse(false));
        Freezer freezer = t.group.freezer();

        assertThatThrownBy(() -> freezer.freeze(Instant.now().plusMillis(500)))
                .isInstanceOfSatisfying(FreezeTimeoutException.class, e -> {
                    assertThat(e.unfrozen()).filteredOn(r -> r.tid() == stuck).singleElement()
                            .satisfies(r -> assertThat(r.comm()).isEqualTo("stat"))
                            .satisfies(r -> assertThat(r.state()).isEqualTo('D'));
                    assertThat(e.getMessage()).contains("pid " + stuck + " (stat) state D wchan ");
                });

        assertThat(freezer.isFrozen()).as("group thawed after the failed freeze").isFalse();
    }

    /**
     * The deadline path for every backend, v1 included: no task was found that this kernel keeps
     * out of its v1 freezer (an unanswered FUSE request, a writer blocked on an fsfrozen file
     * system, a vfork parent with a stopped child, a task frozen by cgroup v2 all reach FROZEN).
     */
    @ParameterizedTest
    @EnumSource(Backend.class)
    void aDeadlineAlreadyPassedFreezesNothingAndNamesTheTasks(Backend backend) throws IOException {
        TestGroup t = on(backend);
        List<Path> counters = t.startTree();
        Freezer freezer = t.group.freezer();

        assertThatThrownBy(() -> freezer.freeze(Instant.now().minusMillis(1)))
                .isInstanceOfSatisfying(FreezeTimeoutException.class, e -> {
                    assertThat(e.getMessage()).contains("deadline passed before the freeze started");
                    assertThat(e.unfrozen()).extracting(TaskReport::tid).contains(t.treePid);
                    assertThat(e.getMessage()).contains("pid " + t.treePid + " (sh)");
                });

        assertThat(freezer.isFrozen()).isFalse();
        TestGroup.awaitAllMove(TestGroup.snapshot(counters));
    }

    @ParameterizedTest
    @EnumSource(Backend.class)
    void killAllEmptiesAFrozenGroup(Backend backend) throws IOException {
        TestGroup t = on(backend);
        t.startTree();
        t.group.freezer().freeze(Instant.now().plusSeconds(10));

        assertThat(t.group.killAll(Duration.ofSeconds(10))).isTrue();

        assertThat(t.group.pids()).isEmpty();
        t.group.freezer().thaw();
    }
}
