package io.lockstep.manifest;

import com.google.protobuf.ByteString;
import io.lockstep.cli.JsonText;
import io.lockstep.names.RawNames;
import io.lockstep.names.RecordedNames;
import io.lockstep.proto.FdRecord;
import io.lockstep.proto.FileIdentity;
import io.lockstep.proto.IdentityKind;
import io.lockstep.proto.LockRecord;
import io.lockstep.proto.Manifest;
import io.lockstep.proto.ProcessRecord;
import io.lockstep.proto.RestartSpec;

import java.util.ArrayList;
import java.util.List;
import java.util.TreeMap;

/**
 * Manifests for people: full JSON, or a compact text summary. Environment values (passwords,
 * tokens) are shown only when asked for; by default only the variables' names are.
 */
public final class ManifestPrinter {
    /** What an environment value reads as when values are not shown. */
    public static final String HIDDEN_VALUE = "(hidden: --show-env)";

    private ManifestPrinter() {
    }

    public static String toJson(Manifest manifest) {
        return toJson(manifest, false);
    }

    public static String toText(Manifest manifest) {
        return toText(manifest, false);
    }

    /** A copy whose environment values all read {@link #HIDDEN_VALUE}: the names stay. */
    public static Manifest withoutEnvironmentValues(Manifest manifest) {
        Manifest.Builder copy = manifest.toBuilder();
        for (ProcessRecord.Builder process : copy.getProcessesBuilderList()) {
            if (process.hasRestart()) {
                RestartSpec.Builder restart = process.getRestartBuilder();
                for (String name : restart.getEnvMap().keySet()) {
                    restart.putEnv(name, HIDDEN_VALUE);
                }
                List<ByteString> hidden = new ArrayList<>();
                for (String name : RecordedNames.environment(restart.getRawEnvList()).keySet()) {
                    hidden.add(RawNames.bytes(name + "=" + HIDDEN_VALUE));
                }
                restart.clearRawEnv().addAllRawEnv(hidden);
            }
        }
        return copy.build();
    }

    /**
     * The manifest in the one --json form (numbers as numbers; docs/json.md): names as display
     * strings, with their exact bytes (base64) in the raw_* fields when they are not plain text.
     */
    public static String toJson(Manifest manifest, boolean showEnv) {
        Manifest deflated = RecordedNames.deflate(manifest);
        return JsonText.print(showEnv ? deflated : withoutEnvironmentValues(deflated));
    }

    public static String toText(Manifest m, boolean showEnv) {
        StringBuilder out = new StringBuilder();
        out.append("group ").append(m.getGroup()).append(" host ").append(m.getHostId())
                .append(" (").append(m.getHostname()).append(") op ").append(m.getOpId())
                .append(" epoch ").append(m.getEpoch()).append(" freezer ").append(m.getFreezer())
                .append(m.getDegraded() ? " DEGRADED" : "").append('\n');
        for (ProcessRecord p : m.getProcessesList()) {
            out.append("pid ").append(p.getPid()).append(" ppid ").append(p.getPpid())
                    .append(" uid ").append(p.getUid()).append(" gid ").append(p.getGid())
                    .append(" threads ").append(p.getTidsCount())
                    .append(" [").append(p.getComm()).append("] ").append(shown(p.getArgvList()))
                    .append('\n');
            out.append("  cwd ").append(RawNames.display(p.getCwd())).append(identity(p.getCwdIdentity())).append('\n');
            out.append(p.hasRestart() ? "  restart: " + shown(p.getRestart().getArgvList()) : "  restart: none")
                    .append('\n');
            if (p.hasRestart()) {
                environment(out, p.getRestart(), showEnv);
            }
            for (FdRecord fd : p.getFdsList()) {
                out.append("  fd ").append(fd.getFd()).append(' ').append(fd.getKind().name().replace("FD_", "").toLowerCase())
                        .append(' ').append(RawNames.display(fd.getPath()))
                        .append(" flags 0").append(Integer.toOctalString(fd.getOpenFlags()))
                        .append(" pos ").append(fd.getOffset())
                        .append(fd.hasIdentity() ? identity(fd.getIdentity()) : "").append('\n');
            }
            for (LockRecord l : p.getLocksList()) {
                out.append("  ").append(l.getWaiting() ? "waits " : "holds ").append(l.getKind()).append(' ')
                        .append(l.getType()).append(" [").append(l.getStart()).append(", ")
                        .append(l.getEnd() < 0 ? "EOF" : Long.toString(l.getEnd())).append("] fd ").append(l.getFd())
                        .append(identity(l.getIdentity())).append('\n');
            }
        }
        for (String w : m.getWarningsList()) {
            out.append("warning: ").append(w).append('\n');
        }
        return out.toString();
    }

    private static void environment(StringBuilder out, RestartSpec restart, boolean showEnv) {
        if (restart.getEnvCount() > 0) {
            out.append("  env:");
            new TreeMap<>(restart.getEnvMap()).forEach((name, value) -> out.append(' ').append(RawNames.display(name))
                    .append(showEnv ? "=" + RawNames.display(value) : ""));
            out.append(showEnv ? "" : " (values hidden: --show-env)").append('\n');
        }
        if (!restart.getEnvFile().isEmpty()) {
            out.append("  env file: ").append(restart.getEnvFile()).append(" (").append(String.join(" ",
                    restart.getEnvFileNamesList())).append("; read again at restore, never recorded)\n");
        }
        if (restart.hasHook()) {
            out.append("  hook:").append(restart.getHook().getCommand().isEmpty() ? ""
                    : " command `" + restart.getHook().getCommand() + "`")
                    .append(restart.getHook().getSignal() == 0 ? "" : " signal " + restart.getHook().getSignal())
                    .append(", timeout ").append(restart.getHook().getTimeoutMs()).append(" ms\n");
        }
    }

    private static String identity(FileIdentity id) {
        if (id.getKind() == IdentityKind.NETWORK) {
            return " = " + id.getSource() + " " + RawNames.display(id.getRelativePath()) + " (" + id.getFsType() + ")";
        }
        if (id.getKind() == IdentityKind.LOCAL) {
            return " = " + id.getHostId() + " " + id.getDevice() + " " + RawNames.display(id.getRelativePath()) + " ("
                    + id.getFsType() + ")";
        }
        return "";
    }

    /** Arguments for people: each shown with undecodable bytes and control characters escaped. */
    private static String shown(List<String> argv) {
        return String.join(" ", argv.stream().map(RawNames::display).toList());
    }
}
