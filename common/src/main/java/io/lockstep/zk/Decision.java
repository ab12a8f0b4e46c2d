package io.lockstep.zk;

import java.nio.charset.StandardCharsets;
import java.util.Objects;

/**
 * The content of ops/<op>/decision: COMMIT, or ABORT with a reason. Created once
 * (create-if-absent) and never changed, so at most one of the two exists per operation.
 */
public record Decision(Outcome outcome, String reason) {
    public enum Outcome { COMMIT, ABORT }

    private static final String ABORT_PREFIX = "ABORT: ";

    public Decision {
        Objects.requireNonNull(outcome, "outcome");
        reason = reason == null ? "" : reason;
    }

    public static Decision commit() {
        return new Decision(Outcome.COMMIT, "");
    }

    public static Decision abort(String reason) {
        return new Decision(Outcome.ABORT, reason);
    }

    public boolean isCommit() {
        return outcome == Outcome.COMMIT;
    }

    public byte[] toBytes() {
        String text = isCommit() ? "COMMIT" : ABORT_PREFIX + reason;
        return text.getBytes(StandardCharsets.UTF_8);
    }

    public static Decision parse(byte[] data) {
        String text = new String(data, StandardCharsets.UTF_8);
        if (text.equals("COMMIT")) {
            return commit();
        }
        if (text.startsWith(ABORT_PREFIX)) {
            return abort(text.substring(ABORT_PREFIX.length()));
        }
        if (text.equals("ABORT")) {
            return abort("");
        }
        throw new IllegalArgumentException("not a decision: '" + text + "'");
    }

    @Override
    public String toString() {
        return isCommit() ? "COMMIT" : "ABORT(" + reason + ")";
    }
}
