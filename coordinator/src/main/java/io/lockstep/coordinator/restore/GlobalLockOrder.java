package io.lockstep.coordinator.restore;

import io.lockstep.proto.LockToTake;

import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;

/**
 * The one order in which every held lock of every host is taken again (docs/DESIGN.md, Restore step
 * 3): by (portable file identity, start, end, type, owner). All restores use the same order, so
 * restores that overlap never wait on each other in a cycle.
 */
public final class GlobalLockOrder {
    public static final Comparator<HeldLock> ORDER = Comparator
            .comparing(HeldLock::fileKey)
            .thenComparingLong(held -> held.lock().getStart())
            .thenComparingLong(HeldLock::endKey)
            .thenComparingInt(held -> held.lock().getTypeValue())
            .thenComparing(HeldLock::sourceHost)
            .thenComparingInt(HeldLock::oldPid)
            .thenComparingInt(held -> held.lock().getFd())
            .thenComparingInt(held -> held.lock().getKindValue());

    private final List<HeldLock> ordered;

    public GlobalLockOrder(List<HeldLock> locks) {
        List<HeldLock> copy = new ArrayList<>(locks);
        copy.sort(ORDER);
        this.ordered = List.copyOf(copy);
    }

    public List<HeldLock> ordered() {
        return ordered;
    }

    public int size() {
        return ordered.size();
    }

    /** The locks one target host takes, in global order, tagged with their global position. */
    public List<LockToTake> forHost(String targetHost) {
        List<LockToTake> mine = new ArrayList<>();
        for (int i = 0; i < ordered.size(); i++) {
            HeldLock held = ordered.get(i);
            if (held.targetHost().equals(targetHost)) {
                mine.add(toTake(i, held));
            }
        }
        return mine;
    }

    /** One stretch of consecutive locks in global order that all belong to the same target host. */
    public record Run(String targetHost, List<LockToTake> locks, boolean lastForHost) {
    }

    /**
     * The strict-order fallback: taking these runs one after another, each run fully held before
     * the next starts, acquires every lock in the global order across all hosts.
     */
    public List<Run> runs() {
        List<Run> runs = new ArrayList<>();
        int i = 0;
        while (i < ordered.size()) {
            String host = ordered.get(i).targetHost();
            List<LockToTake> run = new ArrayList<>();
            while (i < ordered.size() && ordered.get(i).targetHost().equals(host)) {
                run.add(toTake(i, ordered.get(i)));
                i++;
            }
            runs.add(new Run(host, run, false));
        }
        List<Run> marked = new ArrayList<>(runs.size());
        for (int r = 0; r < runs.size(); r++) {
            String host = runs.get(r).targetHost();
            boolean last = true;
            for (int later = r + 1; later < runs.size(); later++) {
                if (runs.get(later).targetHost().equals(host)) {
                    last = false;
                    break;
                }
            }
            marked.add(new Run(host, runs.get(r).locks(), last));
        }
        return marked;
    }

    private static LockToTake toTake(int position, HeldLock held) {
        return LockToTake.newBuilder().setOrder(position).setOldPid(held.oldPid())
                .setSourceHostId(held.sourceHost()).setLock(held.lock()).build();
    }
}
