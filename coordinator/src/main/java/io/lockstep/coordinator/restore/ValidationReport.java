package io.lockstep.coordinator.restore;

import io.lockstep.proto.FileProblem;
import io.lockstep.proto.ServerMatch;

import java.util.List;
import java.util.Map;

/**
 * The per-file report of a refused validation, one line per problem, grouped by host, then how
 * each host matched the recorded network exports to its own mounts.
 */
public final class ValidationReport {
    private ValidationReport() {
    }

    static String format(Map<String, List<FileProblem>> problems, Map<String, List<ServerMatch>> matches) {
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
        matches.forEach((host, list) -> list.forEach(match -> out.append("\n  host ").append(host).append(": ")
                .append(describe(match))));
        boolean fatalDrift = problems.values().stream().flatMap(List::stream)
                .anyMatch(problem -> problem.getFatal() && problem.getProblem().contains(" drift: "));
        if (fatalDrift) {
            out.append("\n  files changed since the checkpoint and no snapshot of it covers them: --force restores over")
                    .append(" them as they are now; to have later checkpoints put such files back, declare their")
                    .append(" directory (coordinator data-path add) and see README, \"Snapshots and roll-back\"");
        }
        return out.toString();
    }

    /** "export nfs1:/export found as 10.0.0.5:/export (shared address: ...)". */
    public static String describe(ServerMatch match) {
        String rule = switch (match.getRule()) {
            case SAME_NAME -> "same name";
            case SHARED_ADDRESS -> "shared address";
            case ALIAS -> "alias";
            case FILE_HANDLE -> "file handle";
            default -> "no rule";
        };
        return "export " + match.getRecorded() + " found as " + match.getLocal() + " (" + rule
                + (match.getDetail().isEmpty() ? "" : ": " + match.getDetail()) + ")";
    }
}
