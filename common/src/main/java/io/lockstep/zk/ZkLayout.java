package io.lockstep.zk;

import java.util.regex.Pattern;

/**
 * Where everything lives in ZooKeeper (docs/DESIGN.md, "ZooKeeper layout"). The one place that
 * builds paths, so that agents and coordinators can never disagree about them.
 */
public final class ZkLayout {
    /** The name of a barrier count's children before their sequence number ({@link #phaseCount}). */
    private static final String COUNT_CHILD_PREFIX = "n-";

    public static final String DEFAULT_ROOT = "/lockstep";
    private static final Pattern NAME = Pattern.compile("[A-Za-z0-9][A-Za-z0-9_.-]{0,63}");

    private final String root;

    public ZkLayout(String root) {
        if (!root.startsWith("/") || root.endsWith("/") || root.contains("//")) {
            throw new IllegalArgumentException("ZooKeeper root must be an absolute path without a trailing slash: " + root);
        }
        this.root = root;
    }

    /** Group, host, op and checkpoint names become path segments: only a safe alphabet is allowed. */
    public static String checkName(String kind, String name) {
        if (name == null || !NAME.matcher(name).matches() || name.contains("..")) {
            throw new IllegalArgumentException(kind + " name '" + name
                    + "' is not valid: use 1-64 letters, digits, '_', '.', '-', starting with a letter or digit");
        }
        return name;
    }

    public String root() {
        return root;
    }

    public String hosts() {
        return root + "/hosts";
    }

    public String host(String host) {
        return hosts() + "/" + checkName("host", host);
    }

    public String groups() {
        return root + "/groups";
    }

    public String group(String group) {
        return groups() + "/" + checkName("group", group);
    }

    /**
     * Ephemeral and short-lived: an agent's start-up runs the frozen window's ZooKeeper calls (a
     * counting multi, an exists watch's notification, a read, a deleting multi) on this node of its
     * own, so that the first checkpoint after a start does not load and compile them inside its window.
     */
    public String warmUp(String host) {
        return root + "/warm-up/" + checkName("host", host);
    }

    public String members(String group) {
        return group(group) + "/members";
    }

    public String member(String group, String host) {
        return members(group) + "/" + checkName("host", host);
    }

    /** Persistent; its data version is the group's fencing epoch. */
    public String epoch(String group) {
        return group(group) + "/epoch";
    }

    /** Ephemeral: held by the coordinator that runs an operation on the group. */
    public String lock(String group) {
        return group(group) + "/lock";
    }

    public String ops(String group) {
        return group(group) + "/ops";
    }

    public String op(String group, String op) {
        return ops(group) + "/" + checkName("op", op);
    }

    public String owner(String group, String op) {
        return op(group, op) + "/owner";
    }

    public String phase(String group, String op, Phase phase) {
        return op(group, op) + "/" + phase.node();
    }

    public String phaseEntry(String group, String op, Phase phase, String host) {
        return phase(group, op, phase) + "/" + checkName("host", host);
    }

    /**
     * Persistent, made by a host once the first release round of a committed restore is over on it:
     * what it released holds its handed-over locks again (or their hand-over timed out). Another
     * host releases its held-back waiters by itself only when every participant made its marker
     * (docs/DESIGN.md, "Restore"). A child of the op node, so a retired op takes it along and a
     * marker is never made for an op that is gone.
     */
    public String handedOver(String group, String op, String host) {
        return op(group, op) + "/handed-over-" + checkName("host", host);
    }

    public String decision(String group, String op) {
        return op(group, op) + "/decision";
    }

    /**
     * The count of a checkpoint barrier: each host's entry multi also creates one persistent
     * sequential child {@code n-<10 digits>} here, numbered from 0 (the parent is created with the
     * op and nothing else creates or deletes children under it), so the n-th entry made creates
     * child n-1 ({@link #phaseCounted}), and that child's creation is the barrier's signal.
     */
    public String phaseCount(String group, String op, Phase phase) {
        return op(group, op) + "/" + phase.node() + "-count";
    }

    /** What a host's entry multi creates under {@link #phaseCount}, with a sequential suffix. */
    public String phaseCountChild(String group, String op, Phase phase) {
        return phaseCount(group, op, phase) + "/" + COUNT_CHILD_PREFIX;
    }

    /** The count's child that the n-th entry of the barrier created (n from 1). */
    public String phaseCounted(String group, String op, Phase phase, int n) {
        if (n < 1) {
            throw new IllegalArgumentException("a barrier of " + n + " participants");
        }
        return phaseCountChild(group, op, phase) + String.format(java.util.Locale.ROOT, "%010d", n - 1);
    }

    /**
     * A checkpoint's "all frozen" signal: the count child of the last of its {@code participants}
     * frozen entries, each made in a multi that checked the op's owner and epoch; every host
     * captures on its creation.
     */
    public String allFrozen(String group, String op, int participants) {
        return phaseCounted(group, op, Phase.FROZEN, participants);
    }

    /**
     * A checkpoint's "all captured" signal: the count child of the last captured entry, and the
     * signal on which every host thaws.
     */
    public String allCaptured(String group, String op, int participants) {
        return phaseCounted(group, op, Phase.CAPTURED, participants);
    }

    public String checkpoints(String group) {
        return group(group) + "/checkpoints";
    }

    public String checkpoint(String group, String id) {
        return checkpoints(group) + "/" + checkName("checkpoint", id);
    }

    public String latest(String group) {
        return group(group) + "/latest";
    }

    /** Persistent: the group's declared data paths, one child per path (see {@link DataPaths}). */
    public String dataPaths(String group) {
        return group(group) + "/data-paths";
    }

    /** Persistent: snapshots of deleted checkpoints still to be deleted, {@code <checkpoint-id>/<host>} each. */
    public String snapshotDeletions(String group) {
        return group(group) + "/snapshot-deletions";
    }

    public String snapshotDeletions(String group, String checkpointId) {
        return snapshotDeletions(group) + "/" + checkName("checkpoint", checkpointId);
    }

    public String snapshotDeletion(String group, String checkpointId, String host) {
        return snapshotDeletions(group, checkpointId) + "/" + checkName("host", host);
    }
}
