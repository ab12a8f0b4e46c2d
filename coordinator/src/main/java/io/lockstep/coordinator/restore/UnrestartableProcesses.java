package io.lockstep.coordinator.restore;

import io.lockstep.proto.LockRecord;
import io.lockstep.proto.Manifest;
import io.lockstep.proto.ProcessRecord;

import java.util.ArrayList;
import java.util.List;
import java.util.stream.Collectors;

/**
 * What {@code --skip-unrestartable} leaves out: per process of a manifest without a restart spec,
 * one line naming it and the locks it held, which no stub takes before the release (another
 * process may take them first).
 */
final class UnrestartableProcesses {
    private UnrestartableProcesses() {
    }

    static List<String> leftOut(String sourceHost, String targetHost, Manifest manifest) {
        List<String> lines = new ArrayList<>();
        for (ProcessRecord process : manifest.getProcessesList()) {
            if (process.hasRestart()) {
                continue;
            }
            List<String> held = process.getLocksList().stream().filter(lock -> !lock.getWaiting())
                    .map(lock -> new HeldLock(sourceHost, targetHost, process.getPid(), lock).describe())
                    .toList();
            long waited = process.getLocksList().stream().filter(LockRecord::getWaiting).count();
            lines.add("--skip-unrestartable: process " + process.getPid() + " (" + process.getComm() + ") of host "
                    + sourceHost + " has no restart spec and is not restored on host " + targetHost + "; "
                    + (held.isEmpty() ? "it held no locks"
                            : "these " + held.size() + " lock(s) it held are not taken before the release: "
                            + held.stream().collect(Collectors.joining("; ")))
                    + (waited > 0 ? "; it waited for " + waited + " lock(s)" : ""));
        }
        return lines;
    }
}
