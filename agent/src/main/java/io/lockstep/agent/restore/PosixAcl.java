package io.lockstep.agent.restore;

import io.lockstep.agent.nativeio.Native;
import io.lockstep.agent.nativeio.NativeException;
import io.lockstep.names.RawNames;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;

/**
 * A file's POSIX access ACL (the {@code system.posix_acl_access} attribute), and the access check
 * the kernel makes with it (posix_acl_permission): the owner entry for the owner, a named user
 * entry for that uid, else any group entry that matches the gid and grants all that is wanted,
 * else others; named user and group entries are limited by the mask.
 */
record PosixAcl(List<Entry> entries) {
    static final String XATTR = "system.posix_acl_access";
    private static final int VERSION = 2;
    static final int USER_OBJ = 0x01;
    static final int USER = 0x02;
    static final int GROUP_OBJ = 0x04;
    static final int GROUP = 0x08;
    static final int MASK = 0x10;
    static final int OTHER = 0x20;

    record Entry(int tag, int perm, int id) {
    }

    /** The file's ACL, when it has one beyond its mode bits. */
    static Optional<PosixAcl> of(String file) throws IOException {
        Optional<byte[]> value;
        try {
            value = Native.xattr(file, XATTR);
        } catch (NativeException e) {
            throw new IOException("cannot read the ACL of " + RawNames.display(file) + ": " + e.getMessage(), e);
        }
        try {
            return value.map(bytes -> parse(bytes, file));
        } catch (IllegalArgumentException e) {
            throw new IOException(e.getMessage(), e);
        }
    }

    static PosixAcl parse(byte[] value, String file) {
        ByteBuffer in = ByteBuffer.wrap(value).order(ByteOrder.LITTLE_ENDIAN);
        if (value.length < 4 || (value.length - 4) % 8 != 0 || in.getInt() != VERSION) {
            throw new IllegalArgumentException("the ACL of " + RawNames.display(file) + " is not a version " + VERSION + " POSIX ACL ("
                    + value.length + " bytes)");
        }
        List<Entry> entries = new ArrayList<>();
        while (in.hasRemaining()) {
            entries.add(new Entry(in.getShort() & 0xffff, in.getShort() & 0xffff, in.getInt()));
        }
        return new PosixAcl(List.copyOf(entries));
    }

    /** Whether a process of uid:gid, without supplementary groups, gets all of {@code wanted} (rwx bits). */
    boolean allows(int uid, int gid, int owner, int group, int wanted) {
        int mask = perm(MASK, -1).orElse(7);
        if (uid == owner) {
            return granted(perm(USER_OBJ, -1).orElse(0), wanted);
        }
        Optional<Integer> named = perm(USER, uid);
        if (named.isPresent()) {
            return granted(named.get() & mask, wanted);
        }
        boolean groupMatched = false;
        for (Entry e : entries) {
            boolean matches = e.tag() == GROUP_OBJ && group == gid || e.tag() == GROUP && e.id() == gid;
            if (matches) {
                groupMatched = true;
                if (granted(e.perm() & mask, wanted)) {
                    return true;
                }
            }
        }
        return !groupMatched && granted(perm(OTHER, -1).orElse(0), wanted);
    }

    private Optional<Integer> perm(int tag, int id) {
        return entries.stream().filter(e -> e.tag() == tag && (id < 0 || e.id() == id)).map(Entry::perm).findFirst();
    }

    private static boolean granted(int perm, int wanted) {
        return (perm & wanted) == wanted;
    }

    /** As getfacl's short form: {@code user::rw-,user:65534:r--,group::---,mask::r--,other::---}. */
    @Override
    public String toString() {
        List<String> parts = new ArrayList<>();
        for (Entry e : entries) {
            String kind = switch (e.tag()) {
                case USER_OBJ -> "user::";
                case USER -> "user:" + Integer.toUnsignedString(e.id()) + ":";
                case GROUP_OBJ -> "group::";
                case GROUP -> "group:" + Integer.toUnsignedString(e.id()) + ":";
                case MASK -> "mask::";
                case OTHER -> "other::";
                default -> "tag" + e.tag() + ":";
            };
            parts.add(kind + ((e.perm() & 4) != 0 ? "r" : "-") + ((e.perm() & 2) != 0 ? "w" : "-")
                    + ((e.perm() & 1) != 0 ? "x" : "-"));
        }
        return String.join(",", parts);
    }
}
