package io.lockstep.manifest;

import com.google.protobuf.InvalidProtocolBufferException;
import com.google.protobuf.util.JsonFormat;
import io.lockstep.proto.FdRecord;
import io.lockstep.proto.FileIdentity;
import io.lockstep.proto.IdentityKind;
import io.lockstep.proto.LockRecord;
import io.lockstep.proto.Manifest;
import io.lockstep.proto.ProcessRecord;

/** Manifests for people: full JSON, or a compact text summary. */
public final class ManifestPrinter {
    private ManifestPrinter() {
    }

    public static String toJson(Manifest manifest) {
        try {
            return JsonFormat.printer().alwaysPrintFieldsWithNoPresence().print(manifest);
        } catch (InvalidProtocolBufferException e) {
            // only thrown for Any fields with unknown types; Manifest has none
            throw new IllegalStateException("manifest cannot be printed as JSON", e);
        }
    }

    public static String toText(Manifest m) {
        StringBuilder out = new StringBuilder();
        out.append("group ").append(m.getGroup()).append(" host ").append(m.getHostId())
                .append(" (").append(m.getHostname()).append(") op ").append(m.getOpId())
                .append(" epoch ").append(m.getEpoch()).append(" freezer ").append(m.getFreezer())
                .append(m.getDegraded() ? " DEGRADED" : "").append('\n');
        for (ProcessRecord p : m.getProcessesList()) {
            out.append("pid ").append(p.getPid()).append(" ppid ").append(p.getPpid())
                    .append(" uid ").append(p.getUid()).append(" gid ").append(p.getGid())
                    .append(" threads ").append(p.getTidsCount())
                    .append(" [").append(p.getComm()).append("] ").append(String.join(" ", p.getArgvList()))
                    .append('\n');
            out.append("  cwd ").append(p.getCwd()).append(identity(p.getCwdIdentity())).append('\n');
            out.append(p.hasRestart() ? "  restart: " + String.join(" ", p.getRestart().getArgvList()) : "  restart: none")
                    .append('\n');
            for (FdRecord fd : p.getFdsList()) {
                out.append("  fd ").append(fd.getFd()).append(' ').append(fd.getKind().name().replace("FD_", "").toLowerCase())
                        .append(' ').append(fd.getPath())
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

    private static String identity(FileIdentity id) {
        if (id.getKind() == IdentityKind.NETWORK) {
            return " = " + id.getSource() + " " + id.getRelativePath() + " (" + id.getFsType() + ")";
        }
        if (id.getKind() == IdentityKind.LOCAL) {
            return " = " + id.getHostId() + " " + id.getDevice() + " " + id.getRelativePath() + " (" + id.getFsType() + ")";
        }
        return "";
    }
}
