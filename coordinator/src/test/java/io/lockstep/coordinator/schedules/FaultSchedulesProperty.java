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
import net.jqwik.api.Tuple;
import net.jqwik.api.lifecycle.AddLifecycleHook;
import net.jqwik.api.lifecycle.AroundPropertyHook;
import net.jqwik.api.lifecycle.PropertyExecutionResult;
import net.jqwik.api.lifecycle.PropertyExecutor;
import net.jqwik.api.lifecycle.PropertyLifecycleContext;

import java.nio.file.Path;
import java.util.List;

/**
 * Randomized fault schedules: each try draws a schedule of checkpoint and restore cycles, each
 * with one fault (agent SIGKILL and restart, agent SIGSTOP/SIGCONT, coordinator killed at a phase
 * boundary, ZooKeeper stopped and restarted, a stale-epoch RPC from an old coordinator, a store
 * write failure, or none) at a drawn moment (a phase boundary plus a drawn delay), runs it on a
 * real cluster ({@link ScheduleRun}) and checks every docs/DESIGN.md invariant after every cycle.
 *
 * <p><b>CI</b> runs {@value #CI_TRIES} schedules (about two minutes on an idle machine).
 * <b>Soak</b> by hand, one flag:
 * {@code mvn -B -ntp -pl coordinator -am test -Dtest=FaultSchedulesProperty -Dsurefire.failIfNoSpecifiedTests=false -Dlockstep.soak.tries=200}.
 *
 * <p><b>Replay</b> a failure: jqwik prints {@code seed = …} in its report (and the summary file
 * names it); run again with {@code -Dlockstep.soak.seed=<seed>} (or put {@code seed = "<seed>"}
 * into the {@code @Property}). The same seed draws the same schedules; the moments are the same
 * phase boundaries and delays, the machine's timing is not.
 *
 * <p>Shrinking is off: one try costs tens of seconds of real processes and timeouts, and
 * shrinking would re-run dozens of schedules for minutes; the printed schedule of a failed try
 * (2-3 cycles) is already small enough to read.
 *
 * <p>The summary (schedules, cycles, faults injected by kind, outcomes, invariant violations) is
 * printed and written to {@code coordinator/target/fault-schedules-summary.txt}.
 */
class FaultSchedulesProperty {
    static final int CI_TRIES = 3;
    static final ScheduleSummary SUMMARY = new ScheduleSummary();
    static final Path SUMMARY_FILE = Path.of(System.getProperty("basedir", "."), "target", "fault-schedules-summary.txt");

    @Property(tries = CI_TRIES, shrinking = ShrinkingMode.OFF, afterFailure = AfterFailureMode.RANDOM_SEED,
            edgeCases = EdgeCasesMode.NONE)
    @AddLifecycleHook(SoakOptions.class)
    void everyInvariantHoldsAfterEveryCycleOfAFaultSchedule(@ForAll("schedules") List<Cycle> schedule) throws Exception {
        SUMMARY.scheduleStarted();
        System.out.println("fault schedule: " + schedule);
        try (ScheduleRun run = ScheduleRun.start(SUMMARY)) {
            for (Cycle cycle : schedule) {
                run.cycle(cycle);
            }
        } catch (AssertionError violation) {
            SUMMARY.violation();
            throw violation;
        }
    }

    @Provide
    Arbitrary<List<Cycle>> schedules() {
        return cycles().list().ofMinSize(2).ofMaxSize(3);
    }

    private static Arbitrary<Cycle> cycles() {
        return Arbitraries.of(Operation.values()).flatMap(op -> Arbitraries.of(FaultKind.forOperation(op))
                .flatMap(fault -> Combinators.combine(Arbitraries.of(fault.moments(op)), delays(),
                                Arbitraries.of(false, true))
                        .as((moment, delay, pastSessionTimeout) -> new Cycle(op, fault, moment,
                                fault.delayable() ? delay : 0, fault.hasDuration() && pastSessionTimeout))));
    }

    /** A quarter exactly at the phase boundary, the rest somewhere in the next phase's first 300 ms. */
    private static Arbitrary<Integer> delays() {
        return Arbitraries.frequencyOf(Tuple.of(1, Arbitraries.just(0)), Tuple.of(3, Arbitraries.integers().between(1, 300)));
    }

    /** {@code -Dlockstep.soak.tries=N} and {@code -Dlockstep.soak.seed=S}; writes the summary with the seed. */
    static final class SoakOptions implements AroundPropertyHook {
        @Override
        public PropertyExecutionResult aroundProperty(PropertyLifecycleContext context, PropertyExecutor property)
                throws Throwable {
            Integer tries = Integer.getInteger("lockstep.soak.tries");
            if (tries != null) {
                context.attributes().setTries(tries);
            }
            String seed = System.getProperty("lockstep.soak.seed");
            if (seed != null) {
                context.attributes().setSeed(seed);
            }
            PropertyExecutionResult result = property.execute();
            String seedNote = "seed " + result.seed().orElse("unknown") + " (replay: -Dlockstep.soak.seed=…)";
            SUMMARY.write(SUMMARY_FILE, seedNote);
            System.out.print(SUMMARY.render(seedNote));
            return result;
        }
    }
}
