package io.lockstep.coordinator.cli;

import ch.qos.logback.classic.Level;
import ch.qos.logback.classic.Logger;
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
            Logger lockstep = logback.getLogger("io.lockstep");
            lockstep.setLevel(on ? Level.INFO : null);
        }
    }

    static boolean isVerbose() {
        return verbose;
    }
}
