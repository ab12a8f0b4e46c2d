package io.lockstep.manifest;

import com.google.protobuf.CodedInputStream;
import com.google.protobuf.WireFormat;
import io.lockstep.proto.Manifest;
import io.lockstep.proto.ProcessRecord;
import java.io.IOException;

/**
 * Counts a manifest body's entries on the wire, before protobuf turns them into objects: a
 * hostile manifest with millions of processes, fds or locks is refused without allocating them.
 * The limits are far above what one host's group can hold (fd numbers stop at 65535 per process).
 */
final class ManifestLimits {
    static final int MAX_PROCESSES = 100_000;
    static final int MAX_FDS_PER_PROCESS = 65_536;
    static final int MAX_FDS = 1_000_000;
    static final int MAX_LOCKS = 1_000_000;

    private ManifestLimits() {
    }

    static void check(byte[] bytes, int offset, int length) throws ManifestFormatException {
        CodedInputStream in = CodedInputStream.newInstance(bytes, offset, length);
        String host = "?";
        int processes = 0;
        long fds = 0;
        long locks = 0;
        try {
            for (int tag = in.readTag(); tag != 0; tag = in.readTag()) {
                int field = WireFormat.getTagFieldNumber(tag);
                boolean delimited = WireFormat.getTagWireType(tag) == WireFormat.WIRETYPE_LENGTH_DELIMITED;
                if (field == Manifest.HOST_ID_FIELD_NUMBER && delimited) {
                    host = in.readStringRequireUtf8(); // fields are written in number order: the host comes first
                } else if (field == Manifest.PROCESSES_FIELD_NUMBER && delimited) {
                    if (++processes > MAX_PROCESSES) {
                        throw tooMany(host, "more than " + MAX_PROCESSES + " processes");
                    }
                    int limit = in.pushLimit(in.readRawVarint32());
                    long pid = -1;
                    int processFds = 0;
                    while (!in.isAtEnd()) {
                        int inner = in.readTag();
                        int innerField = WireFormat.getTagFieldNumber(inner);
                        if (innerField == ProcessRecord.PID_FIELD_NUMBER
                                && WireFormat.getTagWireType(inner) == WireFormat.WIRETYPE_VARINT) {
                            pid = in.readInt32();
                            continue;
                        }
                        if (innerField == ProcessRecord.FDS_FIELD_NUMBER && ++processFds > MAX_FDS_PER_PROCESS) {
                            throw tooMany(host, "process " + pid + " has more than " + MAX_FDS_PER_PROCESS + " fd entries");
                        }
                        if (innerField == ProcessRecord.FDS_FIELD_NUMBER && ++fds > MAX_FDS) {
                            throw tooMany(host, "more than " + MAX_FDS + " fd entries");
                        }
                        if (innerField == ProcessRecord.LOCKS_FIELD_NUMBER && ++locks > MAX_LOCKS) {
                            throw tooMany(host, "more than " + MAX_LOCKS + " lock entries (process " + pid + ")");
                        }
                        in.skipField(inner);
                    }
                    in.popLimit(limit);
                } else {
                    in.skipField(tag);
                }
            }
        } catch (IOException e) {
            throw new ManifestFormatException("manifest body does not parse (digest matched, so it was written"
                    + " this way): " + e.getMessage(), e);
        }
    }

    private static ManifestFormatException tooMany(String host, String what) {
        return new ManifestFormatException("manifest of host " + host + " refused before parsing: " + what);
    }
}
