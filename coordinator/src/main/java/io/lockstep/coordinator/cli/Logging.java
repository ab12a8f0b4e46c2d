package io.lockstep.coordinator.cli;

import ch.qos.logback.classic.Level;
import ch.qos.logback.classic.LoggerContext;
import org.slf4j.LoggerFactory;

/** Quiet by default (warnings on stderr, see logback.xml); {@code -v} shows what Lockstep does. */
final class Logging {
    private static volatile boolean verbose;

    private Logging() {
    }

    static void setVerbose(boolean on) {
        verbose = on;
        if (LoggerFactory.getILoggerFactory() instanceof LoggerContext logback) {
            logback.getLogger("io.lockstep").setLevel(on ? Level.INFO : null);
            for (String library : new String[] {"org.apache.zookeeper", "org.apache.curator"}) {
                logback.getLogger(library).setLevel(on ? Level.WARN : Level.ERROR);
            }
        }
    }

    static boolean isVerbose() {
        return verbose;
    }
}
