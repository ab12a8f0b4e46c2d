package io.lockstep.coordinator.schedules;

import io.lockstep.coordinator.schedules.FaultKind.Operation;
import net.jqwik.api.AfterFailureMode;
import net.jqwik.api.Arbitraries;
import net.jqwik.api.Arbitrary;
import net.jqwik.api.Combinators;
import net.jqwik.api.EdgeCasesMode;
import net.jqwik.api.ForAll;
import net.jqwik.api.Property;
import net.jqwik.api.Provide;
import net.jqwik.api.ShrinkingMode;
import net.jqwik.api.Tag;
import net.jqwik.api.Tuple;
import net.jqwik.api.lifecycle.AddLifecycleHook;
import net.jqwik.api.lifecycle.AroundPropertyHook;
import net.jqwik.api.lifecycle.PropertyExecutionResult;
import net.jqwik.api.lifecycle.PropertyExecutor;
import net.jqwik.api.lifecycle.PropertyLifecycleContext;
import org.awaitility.Awaitility;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.time.Duration;
import java.util.List;
import java.util.stream.Stream;

/**
 * Randomized fault schedules: each try runs, with a group of its own on the run's shared real
 * cluster ({@link ScheduleCluster}, {@link ScheduleRun}) and an application of drawn lock kinds
 * ({@link Application}: a POSIX, OFD or flock holder on each host and a waiter for it on the
 * other), one cycle for every fault kind (agent SIGKILL and restart, agent SIGSTOP/SIGCONT,
 * coordinator killed at a phase boundary, ZooKeeper stopped and restarted, a stale-epoch RPC from
 * an old coordinator, a store write failure, restore stubs killed after prepare and after the
 * confirm round, one of h2's stubs killed, an agent stopped before a checkpoint, ZooKeeper lost
 * with the commit's answer, a coordinator clock minutes off the agents') and one without a fault,
 * in a drawn order; each cycle draws its operation
 * (checkpoint or restore) and its moment (a phase boundary plus a delay drawn as a share of what
 * remains of the operation, as measured on the same cluster), and every docs/DESIGN.md invariant
 * is checked after it. A fault counts as injected only if it landed while its operation was in
 * progress; any failure of a try — an assertion, a timed-out wait, an exception — counts.
 *
 * <p><b>CI</b> ({@code mvn verify}; surefire includes {@code *Property}) runs {@value #CI_TRIES}
 * schedule: every fault kind once (65 s on a 2-core machine at load average 6-7, seed 20261212; 78 s while
 * its waits first looked after 100 ms and its hand-over fallback took 10 s; it took
 * 2-3 minutes under load 12-16 before its workers were python3 programs).
 * <b>Soak</b> by hand, one flag:
 * {@code mvn -B -ntp -pl coordinator -am test -Dtest=FaultSchedulesProperty -Dsurefire.failIfNoSpecifiedTests=false -Dlockstep.soak.tries=20}.
 *
 * <p><b>Replay</b> a failure: jqwik prints {@code seed = …} in its report (and the summary file
 * names it); run again with {@code -Dlockstep.soak.seed=<seed>} (or put {@code seed = "<seed>"}
 * into the {@code @Property}). The same seed draws the same schedules; the moments are the same
 * phase boundaries and delays, the machine's timing is not.
 *
 * <p>Shrinking is off: one try costs a minute or more of real processes and timeouts, and
 * shrinking would re-run dozens of schedules for many minutes; the printed schedule of a failed
 * try (13 cycles) is small enough to read.
 *
 * <p>The summary (schedules, cycles, faults injected by kind, outcomes, invariant violations, and
 * where the time went: the cluster's start, each schedule's set-up and reset, each cycle by fault
 * kind and section) is printed and written to {@code coordinator/target/fault-schedules-summary.txt}.
 */
@Tag("serial") // runs alone: short deadlines over many JVMs (coordinator/pom.xml)
class FaultSchedulesProperty {
    static final int CI_TRIES = 1;
    static final ScheduleSummary SUMMARY = new ScheduleSummary();
    static final Path SUMMARY_FILE = Path.of(System.getProperty("basedir", "."), "target", "fault-schedules-summary.txt");

    @Property(tries = CI_TRIES, shrinking = ShrinkingMode.OFF, afterFailure = AfterFailureMode.RANDOM_SEED,
            edgeCases = EdgeCasesMode.NONE)
    @AddLifecycleHook(SoakOptions.class)
    void everyInvariantHoldsAfterEveryCycleOfAFaultSchedule(@ForAll("applications") Application application,
                                                             @ForAll("schedules") List<Cycle> schedule) throws Exception {
        if (System.nanoTime() - SoakOptions.soakDeadlineNanos > 0) {
            // A soak's time budget is spent: the tries left start nothing and are counted nowhere.
            return;
        }
        SUMMARY.scheduleStarted();
        System.out.println("fault schedule (" + application + "): " + schedule);
        try {
            ScheduleCluster cluster = sharedCluster();
            try (ScheduleRun run = ScheduleRun.start(cluster, application, SUMMARY)) {
                for (Cycle cycle : schedule) {
                    run.cycle(cycle);
                }
                run.endAndCheckNothingLeft();
            }
        } catch (Throwable failure) {
            // Timeouts and exceptions too: a try that could not finish its checks proved nothing.
            SUMMARY.violation();
            keepAgentLogOfFailedSchedule();
            // What the failed schedule left is not for the next one to start from.
            closeSharedCluster();
            throw failure;
        }
    }

    private static ScheduleCluster shared;

    private static synchronized ScheduleCluster sharedCluster() throws Exception {
        if (shared == null) {
            Laps laps = new Laps();
            shared = ScheduleCluster.start();
            laps.lap("zookeeper and agents");
            SUMMARY.clusterStarted(laps);
        }
        return shared;
    }

    /**
     * h2's agent JVM logs into the cluster's directory, which closing the cluster deletes: a failed
     * schedule's h2 side (seed 20261216's 23rd replayed schedule) could not be read afterwards.
     */
    private static synchronized void keepAgentLogOfFailedSchedule() {
        if (shared == null) {
            return;
        }
        Path log = shared.cluster.dir().resolve("agent-" + ScheduleCluster.FAULTY_HOST + ".log");
        Path kept = SUMMARY_FILE.resolveSibling("fault-schedule-failed-agent-" + ScheduleCluster.FAULTY_HOST + ".log");
        try {
            Files.createDirectories(kept.getParent());
            Files.copy(log, kept, StandardCopyOption.REPLACE_EXISTING);
            System.out.println(ScheduleCluster.FAULTY_HOST + "'s agent log of the failed schedule: " + kept);
        } catch (IOException e) {
            // The schedule's own failure is what the run reports.
            System.out.println("could not keep " + log + ": " + e);
        }
    }

    private static synchronized void closeSharedCluster() throws Exception {
        ScheduleCluster closing = shared;
        shared = null;
        if (closing != null) {
            closing.close();
        }
    }

    /**
     * The application's lock kinds: each holder's POSIX, OFD or flock; each waiter's a kind that
     * conflicts with its holder's (flock for flock, POSIX or OFD for POSIX and OFD).
     */
    @Provide
    Arbitrary<Application> applications() {
        Arbitrary<String> holder = Arbitraries.of(Application.POSIX, Application.OFD, Application.FLOCK);
        return Combinators.combine(holder, holder, Arbitraries.of(false, true), Arbitraries.of(false, true))
                .as((h1, h2, h1WaitsOfd, h2WaitsOfd) -> new Application(h1, h2, waiterFor(h2, h1WaitsOfd),
                        waiterFor(h1, h2WaitsOfd)));
    }

    private static String waiterFor(String holder, boolean ofd) {
        return holder.equals(Application.FLOCK) ? Application.FLOCK : ofd ? Application.OFD : Application.POSIX;
    }

    /**
     * Every fault kind once (and one cycle without a fault), in a drawn order, each with a drawn
     * operation, moment, delay and duration: any schedule, and so every CI run, covers every kind.
     */
    @Provide
    Arbitrary<List<Cycle>> schedules() {
        return Arbitraries.shuffle(List.of(FaultKind.values())).flatMap(kinds -> Combinators.combine(
                kinds.stream().map(FaultSchedulesProperty::cycleWith).toList()).as(cycles -> cycles));
    }

    private static Arbitrary<Cycle> cycleWith(FaultKind fault) {
        List<Operation> operations = Stream.of(Operation.values())
                .filter(op -> FaultKind.forOperation(op).contains(fault)).toList();
        return Arbitraries.of(operations).flatMap(op -> Combinators.combine(Arbitraries.of(fault.moments(op)), delays(),
                        Arbitraries.of(false, true), skewMinutes(), Arbitraries.of(false, true))
                .as((moment, delay, pastSessionTimeout, skew, waiterStub) -> new Cycle(op, fault, moment,
                        fault.delayable() ? delay : 0, fault.hasDuration() && pastSessionTimeout,
                        fault == FaultKind.CLOCK_SKEW ? skew : 0, fault == FaultKind.ONE_STUB_KILL && waiterStub)));
    }

    /** Minutes, ahead or behind: 2 to 10 either way. */
    private static Arbitrary<Integer> skewMinutes() {
        return Arbitraries.integers().between(-10, 10).filter(minutes -> Math.abs(minutes) >= 2);
    }

    /**
     * A quarter exactly at the phase boundary, the rest a share (per mille) of what remained of the
     * same operation after that boundary when it last ran without fault: inside the operation.
     */
    private static Arbitrary<Integer> delays() {
        return Arbitraries.frequencyOf(Tuple.of(1, Arbitraries.just(0)), Tuple.of(3, Arbitraries.integers().between(1, 999)));
    }

    /**
     * {@code -Dlockstep.soak.tries=N}, {@code -Dlockstep.soak.seed=S} and {@code -Dlockstep.soak.minutes=M}
     * (no schedule starts after M minutes, so a soak ends on its own within M minutes plus one
     * schedule); writes the summary with the seed.
     */
    static final class SoakOptions implements AroundPropertyHook {
        /** No schedule starts once System.nanoTime() passed this; far in the future without a budget. */
        static volatile long soakDeadlineNanos = System.nanoTime() + Long.MAX_VALUE / 2;

        @Override
        public PropertyExecutionResult aroundProperty(PropertyLifecycleContext context, PropertyExecutor property)
                throws Throwable {
            Integer minutes = Integer.getInteger("lockstep.soak.minutes");
            if (minutes != null) {
                soakDeadlineNanos = System.nanoTime() + Duration.ofMinutes(minutes).toNanos();
            }
            Integer tries = Integer.getInteger("lockstep.soak.tries");
            if (tries != null) {
                context.attributes().setTries(tries);
            }
            String seed = System.getProperty("lockstep.soak.seed");
            if (seed != null) {
                context.attributes().setSeed(seed);
            }
            // Every wait of a schedule (here and in LocalCluster, Invariants) looks at once, then
            // every 100 ms: Awaitility's default first look after 100 ms cost a cycle 0.4-1 s over
            // its 5-10 waits whose condition mostly held already. This class runs alone (serial).
            Awaitility.setDefaultPollDelay(Duration.ZERO);
            PropertyExecutionResult result;
            try {
                result = property.execute();
            } finally {
                Awaitility.reset();
                closeSharedCluster();
            }
            String seedNote = "seed " + result.seed().orElse("unknown") + " (replay: -Dlockstep.soak.seed=…)";
            SUMMARY.write(SUMMARY_FILE, seedNote);
            System.out.print(SUMMARY.render(seedNote));
            return result;
        }
    }
}
