package io.lockstep.coordinator.restore;

import io.lockstep.proto.FileProblem;

import java.util.List;
import java.util.Map;

/** The per-file report of a refused validation, one line per problem, grouped by host. */
final class ValidationReport {
    private ValidationReport() {
    }

    static String format(Map<String, List<FileProblem>> problems) {
        StringBuilder out = new StringBuilder();
        problems.forEach((host, list) -> {
            for (FileProblem problem : list) {
                out.append("\n  host ").append(host).append(": ").append(problem.getPath());
                if (!problem.getIdentity().isEmpty()) {
                    out.append(" (").append(problem.getIdentity()).append(")");
                }
                out.append(": ").append(problem.getProblem());
                if (!problem.getFatal()) {
                    out.append(" [accepted with --force]");
                }
            }
        });
        return out.toString();
    }
}
