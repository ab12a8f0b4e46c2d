package io.lockstep.coordinator.op;

import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.util.Locale;

/**
 * The coordinator's log of one operation: a line per phase per host, and one when each phase
 * ends, each with the group, op id and epoch (so that they line up with the agents' lines).
 */
public final class PhaseLog implements OperationListener {
    private static final Logger LOG = LoggerFactory.getLogger(PhaseLog.class);

    private volatile String prefix = "";

    @Override
    public void opened(String kind, String group, String opId, long epoch) {
        prefix = "group " + group + " op " + opId + " epoch " + epoch;
    }

    @Override
    public void hostDone(String phase, String hostId, int done, int total, String detail) {
        LOG.info("{} host {}: {} {}/{}: {}", prefix, hostId, phase, done, total, detail);
    }

    @Override
    public void phaseEnded(String phase, long micros) {
        LOG.info("{}: {} done on every host in {} ms", prefix, phase, String.format(Locale.ROOT, "%.3f", micros / 1000.0));
    }
}
