package io.lockstep.coordinator.cli;

import io.lockstep.coordinator.op.OperationListener;
import picocli.CommandLine.Option;

import java.io.PrintWriter;

/** How a long operation shows its progress: redrawn live on a terminal, one line per event otherwise. */
final class ProgressOptions {
    @Option(names = "--no-progress", description = "Do not draw live progress, even on a terminal.")
    boolean noProgress;

    OperationListener listener(PrintWriter err) {
        if (noProgress) {
            return OperationListener.SILENT;
        }
        return System.console() != null ? new LiveProgress(err) : new PlainProgress(err);
    }
}
