package io.lockstep.coordinator.schedules;

import ch.qos.logback.classic.Logger;
import ch.qos.logback.classic.spi.ILoggingEvent;
import ch.qos.logback.core.AppenderBase;
import org.slf4j.LoggerFactory;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * "No agent acts on an epoch older than the newest it has seen": agents log one line per act
 * ("group G op O epoch E host H: frozen …"); per host and group, the epochs of those lines must
 * never go down, also across a restart of the agent. Lines of in-JVM agents are caught by a
 * logback appender, those of agent JVMs read from their log files.
 */
final class AgentEpochLog implements AutoCloseable {
    private static final Pattern ACT = Pattern.compile("group (\\S+) op (\\S+) epoch (\\d+) host (\\S+): (.*)");

    private final Logger agentLogger = (Logger) LoggerFactory.getLogger("io.lockstep.agent");
    private final List<String> inJvmLines = new CopyOnWriteArrayList<>();
    private final AppenderBase<ILoggingEvent> appender = new AppenderBase<>() {
        @Override
        protected void append(ILoggingEvent event) {
            inJvmLines.add(event.getFormattedMessage());
        }
    };
    private final Map<String, Act> newest = new HashMap<>();
    private final Map<Path, Integer> linesRead = new HashMap<>();
    private int inJvmRead;
    private int actsChecked;
    private final List<String> violations = new ArrayList<>();

    private record Act(long epoch, String line) {
    }

    AgentEpochLog() {
        appender.start();
        agentLogger.addAppender(appender);
    }

    /** Reads what was logged since the last scan; an agent JVM's log file is read before the JVM is replaced. */
    synchronized void scan(List<Path> agentLogFiles) throws IOException {
        while (inJvmRead < inJvmLines.size()) {
            check(inJvmLines.get(inJvmRead++));
        }
        for (Path file : agentLogFiles) {
            if (!Files.exists(file)) {
                continue;
            }
            List<String> lines = Files.readAllLines(file);
            int from = linesRead.getOrDefault(file, 0);
            for (int i = from; i < lines.size(); i++) {
                check(lines.get(i));
            }
            linesRead.put(file, lines.size());
        }
    }

    /** A restarted agent JVM writes its log file afresh. */
    synchronized void fileRestarted(Path file) {
        linesRead.remove(file);
    }

    private void check(String line) {
        Matcher m = ACT.matcher(line);
        if (!m.find()) {
            return;
        }
        actsChecked++;
        String key = m.group(4) + "/" + m.group(1);
        Act act = new Act(Long.parseLong(m.group(3)), m.group(0));
        Act before = newest.get(key);
        if (before != null && act.epoch < before.epoch) {
            violations.add("host " + m.group(4) + " acted on epoch " + act.epoch + " after epoch " + before.epoch
                    + ": '" + act.line + "' after '" + before.line + "'");
        } else {
            newest.put(key, act);
        }
    }

    /** How many agent acts were checked: a check that saw none would prove nothing. */
    synchronized int actsChecked() {
        return actsChecked;
    }

    synchronized List<String> violations() {
        return List.copyOf(violations);
    }

    @Override
    public void close() {
        agentLogger.detachAppender(appender);
        appender.stop();
    }
}
