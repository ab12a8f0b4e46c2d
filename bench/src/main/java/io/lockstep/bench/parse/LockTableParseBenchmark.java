package io.lockstep.bench.parse;

import io.lockstep.agent.proc.ProcLocks;
import java.util.concurrent.TimeUnit;
import org.openjdk.jmh.annotations.Benchmark;
import org.openjdk.jmh.annotations.BenchmarkMode;
import org.openjdk.jmh.annotations.Mode;
import org.openjdk.jmh.annotations.OutputTimeUnit;
import org.openjdk.jmh.annotations.Scope;
import org.openjdk.jmh.annotations.Setup;
import org.openjdk.jmh.annotations.State;

/**
 * Parsing a /proc/locks of {@value #LINES} lines (what a capture of 10k locks reads twice: once in
 * /proc/locks, once in fdinfo) against the floor of visiting every line once.
 */
@State(Scope.Benchmark)
@BenchmarkMode(Mode.AverageTime)
@OutputTimeUnit(TimeUnit.MILLISECONDS)
public class LockTableParseBenchmark {
    static final int LINES = 10_000;

    private String table;

    @Setup
    public void makeTable() {
        StringBuilder text = new StringBuilder();
        for (int i = 1; i <= LINES; i++) {
            text.append(i).append(": POSIX  ADVISORY  WRITE ").append(1000 + i % 3).append(" 08:01:")
                    .append(5678 + i % 1000).append(' ').append(2 * i).append(' ').append(2 * i).append('\n');
        }
        table = text.toString();
    }

    @Benchmark
    public Object parse() {
        return ProcLocks.parse(table);
    }

    /** The floor: find every line end. Any parser does at least this. */
    @Benchmark
    public int visitLines() {
        int lines = 0;
        for (int i = table.indexOf('\n'); i >= 0; i = table.indexOf('\n', i + 1)) {
            lines++;
        }
        return lines;
    }
}
