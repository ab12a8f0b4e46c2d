package io.lockstep.coordinator.restore;

import io.lockstep.proto.FileIdentity;
import io.lockstep.proto.IdentityKind;
import io.lockstep.proto.LockKind;
import io.lockstep.proto.LockRecord;
import io.lockstep.proto.LockToTake;
import io.lockstep.proto.LockType;
import net.jqwik.api.Arbitraries;
import net.jqwik.api.Arbitrary;
import net.jqwik.api.Combinators;
import net.jqwik.api.ForAll;
import net.jqwik.api.Property;
import net.jqwik.api.Provide;

import java.util.ArrayList;
import java.util.Collections;
import java.util.List;

import static org.assertj.core.api.Assertions.assertThat;

/** The global order is what makes concurrent restores deadlock-free: it must be one order, whatever the input order. */
class GlobalLockOrderPropertyTest {

    @Property(tries = 200)
    void theOrderDoesNotDependOnTheOrderLocksArriveIn(@ForAll("locks") List<HeldLock> locks, @ForAll long seed) {
        List<HeldLock> shuffled = new ArrayList<>(locks);
        Collections.shuffle(shuffled, new java.util.Random(seed));
        assertThat(new GlobalLockOrder(shuffled).ordered()).isEqualTo(new GlobalLockOrder(locks).ordered());
    }

    @Property(tries = 200)
    void strictRunsTakeEveryLockOnceInGlobalOrderAndEndEachHostOnce(@ForAll("locks") List<HeldLock> locks) {
        GlobalLockOrder order = new GlobalLockOrder(locks);
        List<Long> positions = new ArrayList<>();
        List<String> lastRunHosts = new ArrayList<>();
        for (GlobalLockOrder.Run run : order.runs()) {
            run.locks().forEach(lock -> positions.add(lock.getOrder()));
            if (run.lastForHost()) {
                lastRunHosts.add(run.targetHost());
            }
        }
        assertThat(positions).hasSize(order.size()).isSorted().doesNotHaveDuplicates();
        assertThat(lastRunHosts).doesNotHaveDuplicates()
                .containsExactlyInAnyOrderElementsOf(order.ordered().stream().map(HeldLock::targetHost).distinct().toList());
    }

    @Property(tries = 200)
    void eachHostsShareIsInGlobalOrder(@ForAll("locks") List<HeldLock> locks) {
        GlobalLockOrder order = new GlobalLockOrder(locks);
        for (String host : List.of("a", "b", "c")) {
            List<Long> mine = order.forHost(host).stream().map(LockToTake::getOrder).toList();
            assertThat(mine).isSorted();
        }
    }

    @Provide
    Arbitrary<List<HeldLock>> locks() {
        Arbitrary<String> host = Arbitraries.of("a", "b", "c");
        Arbitrary<String> file = Arbitraries.of("data", "index", "journal", "dir/x");
        Arbitrary<Long> start = Arbitraries.longs().between(0, 1000);
        Arbitrary<Long> length = Arbitraries.longs().between(0, 100);
        Arbitrary<LockType> type = Arbitraries.of(LockType.READ, LockType.WRITE);
        Arbitrary<LockKind> kind = Arbitraries.of(LockKind.POSIX, LockKind.OFD, LockKind.FLOCK);
        Arbitrary<Integer> pid = Arbitraries.integers().between(100, 110);
        // The target is a function of the source host, as a host map makes it.
        Arbitrary<HeldLock> one = Combinators.combine(host, file, start, length, type, kind, pid)
                .as((source, f, s, len, t, k, p) -> new HeldLock(source, source.equals("a") ? "c" : source, p,
                        LockRecord.newBuilder()
                        .setKind(k).setType(t).setStart(s).setEnd(len == 0 ? -1 : s + len - 1).setFd(p % 4 + 3)
                        .setIdentity(FileIdentity.newBuilder().setKind(IdentityKind.NETWORK).setSource("srv:/export")
                                .setRelativePath(f))
                        .build()));
        return one.list().ofMaxSize(40);
    }
}
