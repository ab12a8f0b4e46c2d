package io.lockstep.manifest;

import com.google.protobuf.ByteString;
import com.google.protobuf.CodedInputStream;
import com.google.protobuf.InvalidProtocolBufferException;
import io.lockstep.names.RecordedNames;
import io.lockstep.proto.Manifest;
import io.lockstep.proto.ManifestHeader;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.Arrays;
import java.util.HexFormat;

/**
 * The stored form of a manifest: a varint-length-delimited {@link ManifestHeader} (magic,
 * format version, body sha256 and length) followed by the serialized {@link Manifest}. The
 * header is checked before the body is parsed: a manifest is untrusted input on restore.
 */
public final class ManifestCodec {
    public static final String MAGIC = "LOCKSTEP-MANIFEST";
    public static final int FORMAT_VERSION = 1;
    /** Far above any real header; stops a garbage length prefix from being believed. */
    private static final int MAX_HEADER_BYTES = 4096;
    /** Far above any real manifest: a body this large is refused from its header, before it is copied. */
    public static final long MAX_BODY_BYTES = 256L << 20;

    private ManifestCodec() {
    }

    public static byte[] encode(Manifest manifest) {
        byte[] body = RecordedNames.deflate(manifest).toByteArray();
        ManifestHeader header = ManifestHeader.newBuilder()
                .setMagic(MAGIC)
                .setFormatVersion(FORMAT_VERSION)
                .setBodySha256(ByteString.copyFrom(sha256(body)))
                .setBodyLength(body.length)
                .build();
        ByteArrayOutputStream out = new ByteArrayOutputStream(body.length + 128);
        try {
            header.writeDelimitedTo(out);
            out.write(body);
        } catch (IOException e) {
            throw new UncheckedIOException(e); // a ByteArrayOutputStream does not fail
        }
        return out.toByteArray();
    }

    public static Manifest decode(byte[] bytes) throws ManifestFormatException {
        CodedInputStream in = CodedInputStream.newInstance(bytes);
        ManifestHeader header;
        int bodyOffset;
        try {
            int headerLength = in.readRawVarint32();
            if (headerLength < 0 || headerLength > MAX_HEADER_BYTES) {
                throw new ManifestFormatException("not a manifest: header length " + headerLength
                        + " is out of range (bad magic?)");
            }
            if (headerLength > bytes.length - in.getTotalBytesRead()) {
                throw new ManifestFormatException("not a manifest, or truncated: header needs " + headerLength
                        + " bytes, only " + (bytes.length - in.getTotalBytesRead()) + " present");
            }
            int limit = in.pushLimit(headerLength);
            header = ManifestHeader.parseFrom(in);
            in.popLimit(limit);
            bodyOffset = in.getTotalBytesRead();
        } catch (InvalidProtocolBufferException e) {
            throw new ManifestFormatException("not a manifest: unreadable header (bad magic?): " + e.getMessage(), e);
        } catch (IOException e) {
            throw new ManifestFormatException("not a manifest: unreadable header: " + e.getMessage(), e);
        }
        if (!MAGIC.equals(header.getMagic())) {
            throw new ManifestFormatException("not a manifest: bad magic '" + printable(header.getMagic())
                    + "', expected '" + MAGIC + "'");
        }
        if (header.getFormatVersion() != FORMAT_VERSION) {
            throw new ManifestFormatException("unsupported manifest format version " + header.getFormatVersion()
                    + "; this agent reads version " + FORMAT_VERSION);
        }
        if (header.getBodyLength() > MAX_BODY_BYTES || header.getBodyLength() < 0) {
            throw new ManifestFormatException("manifest body of " + Long.toUnsignedString(header.getBodyLength())
                    + " bytes is over the limit of " + MAX_BODY_BYTES + " bytes");
        }
        long actual = bytes.length - (long) bodyOffset;
        if (actual != header.getBodyLength()) {
            throw new ManifestFormatException((actual < header.getBodyLength() ? "truncated manifest" : "manifest has trailing bytes")
                    + ": header says the body is " + header.getBodyLength() + " bytes, found " + actual);
        }
        byte[] body = Arrays.copyOfRange(bytes, bodyOffset, bytes.length);
        byte[] digest = sha256(body);
        if (!Arrays.equals(digest, header.getBodySha256().toByteArray())) {
            throw new ManifestFormatException("manifest body digest mismatch: header says sha256 "
                    + HexFormat.of().formatHex(header.getBodySha256().toByteArray()) + ", body has "
                    + HexFormat.of().formatHex(digest));
        }
        ManifestLimits.check(body, 0, body.length);
        try {
            return RecordedNames.inflate(Manifest.parseFrom(body));
        } catch (InvalidProtocolBufferException e) {
            throw new ManifestFormatException("manifest body does not parse (digest matched, so it was written"
                    + " this way): " + e.getMessage(), e);
        }
    }

    public static String sha256Hex(byte[] bytes) {
        return HexFormat.of().formatHex(sha256(bytes));
    }

    private static byte[] sha256(byte[] bytes) {
        try {
            return MessageDigest.getInstance("SHA-256").digest(bytes);
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException("every Java platform has SHA-256", e);
        }
    }

    private static String printable(String s) {
        String cut = s.length() > 40 ? s.substring(0, 40) + "..." : s;
        return cut.replaceAll("\\p{Cntrl}", "?");
    }
}
