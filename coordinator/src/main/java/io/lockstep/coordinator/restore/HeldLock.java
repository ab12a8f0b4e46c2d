package io.lockstep.coordinator.restore;

import io.lockstep.proto.FileIdentity;
import io.lockstep.proto.IdentityKind;
import io.lockstep.proto.LockRecord;

import java.util.Locale;

/** A lock that was held at checkpoint, with where it came from and where it will be taken again. */
public record HeldLock(String sourceHost, String targetHost, int oldPid, LockRecord lock) {

    /**
     * The file part of the global order: the portable identity, so that every host sorts a shared
     * file the same way no matter where it is mounted. A network file is keyed by its server's
     * lowest recorded address (the name, lower-cased, when none was recorded) and its whole path
     * on the server, so that hosts spelling the server otherwise (nfs1, nfs1.example.com,
     * 10.0.0.5), or reaching the export through the NFSv4 pseudo-root, sort it alike.
     */
    public String fileKey() {
        FileIdentity id = lock.getIdentity();
        if (id.getKind() == IdentityKind.NETWORK) {
            return "net:" + serverKey(id) + ":" + serverPath(id);
        }
        if (id.getKind() == IdentityKind.LOCAL) {
            return "local:" + id.getHostId() + ":" + id.getDevice() + ":" + id.getRelativePath();
        }
        return "inode:" + sourceHost + ":" + lock.getDev() + ":" + lock.getInode();
    }

    private static String serverKey(FileIdentity id) {
        if (id.getServerAddressesCount() > 0) {
            return id.getServerAddressesList().stream().sorted().findFirst().orElseThrow();
        }
        return id.getSource().substring(0, Math.max(0, exportStart(id.getSource()))).toLowerCase(Locale.ROOT);
    }

    /** "nfs1:/export" + "a/b" → "/export/a/b"; "nfs1:/" + "export/a/b" → the same. */
    private static String serverPath(FileIdentity id) {
        int start = exportStart(id.getSource());
        String export = start < 0 ? id.getSource() : id.getSource().substring(start + 1);
        String joined = ("/" + export + "/" + id.getRelativePath()).replaceAll("/+", "/");
        return joined.length() > 1 && joined.endsWith("/") ? joined.substring(0, joined.length() - 1) : joined;
    }

    /** Where ":/" separates server and export; an IPv6 literal in brackets may hold colons. */
    private static int exportStart(String source) {
        int close = source.startsWith("[") ? source.indexOf("]:/") : -1;
        return close >= 0 ? close + 1 : source.indexOf(":/");
    }

    /** Inclusive end with "to end of file" as the largest value. */
    public long endKey() {
        return lock.getEnd() < 0 ? Long.MAX_VALUE : lock.getEnd();
    }

    /** Where the lock is, for reports: file, range and type. */
    public String describe() {
        String end = lock.getEnd() < 0 ? "EOF" : Long.toString(lock.getEnd());
        FileIdentity id = lock.getIdentity();
        String file = id.getKind() == IdentityKind.NETWORK ? id.getSource() + "//" + id.getRelativePath() : fileKey();
        return lock.getKind() + " " + lock.getType() + " lock on " + file + " [" + lock.getStart() + ".." + end
                + "] of pid " + oldPid + " from host " + sourceHost;
    }
}
