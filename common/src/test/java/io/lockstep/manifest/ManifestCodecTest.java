package io.lockstep.manifest;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import com.google.protobuf.ByteString;
import com.google.protobuf.CodedOutputStream;
import com.google.protobuf.WireFormat;
import io.lockstep.proto.FdKind;
import io.lockstep.proto.FdRecord;
import io.lockstep.proto.FileIdentity;
import io.lockstep.proto.IdentityKind;
import io.lockstep.proto.LockKind;
import io.lockstep.proto.LockRecord;
import io.lockstep.proto.LockType;
import io.lockstep.proto.Manifest;
import io.lockstep.proto.ManifestHeader;
import io.lockstep.proto.ProcessRecord;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.util.Arrays;
import org.junit.jupiter.api.Test;

class ManifestCodecTest {
    static final FileIdentity ID = FileIdentity.newBuilder().setKind(IdentityKind.NETWORK).setFsType("nfs")
            .setSource("srv:/export").setRelativePath("data/f").build();
    static final Manifest MANIFEST = Manifest.newBuilder()
            .setGroup("g").setHostId("h1").setOpId("op-1").setEpoch(7).setFreezer("cgroup-v2")
            .addProcesses(ProcessRecord.newBuilder().setPid(42).setComm("app").addArgv("/bin/app").addArgv("--x")
                    .setCwd("/srv").addTids(42).addTids(43)
                    .addFds(FdRecord.newBuilder().setFd(3).setKind(FdKind.FD_REGULAR).setPath("/mnt/data/f").setIdentity(ID))
                    .addLocks(LockRecord.newBuilder().setKind(LockKind.POSIX).setType(LockType.WRITE).setStart(0).setEnd(-1)
                            .setFd(3).setOwnerPid(42).setIdentity(ID)))
            .addWarnings("pid 42 fd 4 (pipe:[1]): FD_PIPE is recorded but not restorable")
            .build();

    @Test
    void roundTrips() throws ManifestFormatException {
        assertThat(ManifestCodec.decode(ManifestCodec.encode(MANIFEST))).isEqualTo(MANIFEST);
        assertThat(ManifestCodec.decode(ManifestCodec.encode(Manifest.getDefaultInstance()))).isEqualTo(Manifest.getDefaultInstance());
    }

    @Test
    void aFlippedBitInTheBodyIsADigestMismatch() {
        byte[] bytes = ManifestCodec.encode(MANIFEST);
        bytes[bytes.length - 5] ^= 0x10;
        assertThatThrownBy(() -> ManifestCodec.decode(bytes)).isInstanceOf(ManifestFormatException.class)
                .hasMessageContaining("digest mismatch");
    }

    @Test
    void truncationNamesExpectedAndActualLength() {
        byte[] bytes = ManifestCodec.encode(MANIFEST);
        byte[] cut = Arrays.copyOf(bytes, bytes.length - 10);
        int body = MANIFEST.getSerializedSize();
        assertThatThrownBy(() -> ManifestCodec.decode(cut)).isInstanceOf(ManifestFormatException.class)
                .hasMessageContaining("truncated").hasMessageContaining(body + " bytes, found " + (body - 10));
        assertThatThrownBy(() -> ManifestCodec.decode(Arrays.copyOf(bytes, 5))).isInstanceOf(ManifestFormatException.class)
                .hasMessageContaining("truncated");
        assertThatThrownBy(() -> ManifestCodec.decode(new byte[0])).isInstanceOf(ManifestFormatException.class);
    }

    private static byte[] withHeader(ManifestHeader header, byte[] body) throws IOException {
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        header.writeDelimitedTo(out);
        out.write(body);
        return out.toByteArray();
    }

    @Test
    void aNewerVersionIsRefusedNamingBothVersions() throws IOException {
        byte[] body = MANIFEST.toByteArray();
        ManifestHeader header = ManifestHeader.newBuilder().setMagic(ManifestCodec.MAGIC).setFormatVersion(2)
                .setBodyLength(body.length).setBodySha256(ByteString.copyFrom(new byte[32])).build();
        assertThatThrownBy(() -> ManifestCodec.decode(withHeader(header, body))).isInstanceOf(ManifestFormatException.class)
                .hasMessageContaining("version 2").hasMessageContaining("reads version 1");
    }

    @Test
    void badMagicIsRefused() throws IOException {
        byte[] body = MANIFEST.toByteArray();
        ManifestHeader header = ManifestHeader.newBuilder().setMagic("SOMETHING-ELSE").setFormatVersion(1)
                .setBodyLength(body.length).build();
        assertThatThrownBy(() -> ManifestCodec.decode(withHeader(header, body))).isInstanceOf(ManifestFormatException.class)
                .hasMessageContaining("bad magic 'SOMETHING-ELSE'");
    }

    @Test
    void garbageIsNotAManifest() {
        assertThatThrownBy(() -> ManifestCodec.decode("hello, this is not a manifest at all".getBytes(StandardCharsets.UTF_8)))
                .isInstanceOf(ManifestFormatException.class).hasMessageContaining("not a manifest");
        assertThatThrownBy(() -> ManifestCodec.decode(new byte[] {(byte) 0xff, (byte) 0xff, (byte) 0xff, (byte) 0xff, (byte) 0xff, 1}))
                .isInstanceOf(ManifestFormatException.class);
    }

    @Test
    void aBodyThatMatchesItsDigestButDoesNotParseIsReported() throws IOException {
        byte[] body = {(byte) 0x0a, (byte) 0xff}; // field 1, length 255, nothing follows
        ManifestHeader header = ManifestHeader.newBuilder().setMagic(ManifestCodec.MAGIC).setFormatVersion(1)
                .setBodyLength(body.length)
                .setBodySha256(ByteString.fromHex(ManifestCodec.sha256Hex(body))).build();
        assertThatThrownBy(() -> ManifestCodec.decode(withHeader(header, body))).isInstanceOf(ManifestFormatException.class)
                .hasMessageContaining("does not parse");
    }

    @Test
    void sha256HexIsLowercaseHex() {
        assertThat(ManifestCodec.sha256Hex(new byte[0]))
                .isEqualTo("e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
    }

    @Test
    void printsJsonAndText() {
        assertThat(ManifestPrinter.toJson(MANIFEST)).contains("\"group\":\"g\"").contains("\"relativePath\":\"data/f\"");
        String text = ManifestPrinter.toText(MANIFEST);
        assertThat(text).contains("pid 42").contains("/bin/app --x").contains("fd 3 regular /mnt/data/f")
                .contains("holds POSIX WRITE [0, EOF] fd 3 = srv:/export data/f (nfs)").contains("warning: pid 42 fd 4");
    }
    /** A body of {@code count} empty entries of one repeated field inside one process, framed with a valid header. */
    private static byte[] manyEntries(int processField, int count) throws IOException {
        ByteArrayOutputStream process = new ByteArrayOutputStream();
        CodedOutputStream p = CodedOutputStream.newInstance(process);
        p.writeInt32(ProcessRecord.PID_FIELD_NUMBER, 4242);
        for (int i = 0; i < count; i++) {
            p.writeTag(processField, WireFormat.WIRETYPE_LENGTH_DELIMITED);
            p.writeUInt32NoTag(0);
        }
        p.flush();
        ByteArrayOutputStream body = new ByteArrayOutputStream();
        CodedOutputStream b = CodedOutputStream.newInstance(body);
        b.writeString(Manifest.HOST_ID_FIELD_NUMBER, "h9");
        b.writeByteArray(Manifest.PROCESSES_FIELD_NUMBER, process.toByteArray());
        b.flush();
        byte[] bytes = body.toByteArray();
        ManifestHeader header = ManifestHeader.newBuilder().setMagic(ManifestCodec.MAGIC).setFormatVersion(1)
                .setBodyLength(bytes.length).setBodySha256(ByteString.fromHex(ManifestCodec.sha256Hex(bytes))).build();
        return withHeader(header, bytes);
    }

    @Test
    void millionsOfEntriesAreRefusedBeforeParsingNamingHostAndProcess() throws Exception {
        assertThatThrownBy(() -> ManifestCodec.decode(manyEntries(ProcessRecord.LOCKS_FIELD_NUMBER, 1_000_001)))
                .isInstanceOf(ManifestFormatException.class)
                .hasMessageContaining("manifest of host h9 refused before parsing: more than 1000000 lock entries (process 4242)");
        assertThatThrownBy(() -> ManifestCodec.decode(manyEntries(ProcessRecord.FDS_FIELD_NUMBER, 65_537)))
                .isInstanceOf(ManifestFormatException.class)
                .hasMessageContaining("host h9").hasMessageContaining("process 4242 has more than 65536 fd entries");
        assertThat(ManifestCodec.decode(manyEntries(ProcessRecord.LOCKS_FIELD_NUMBER, 1000)).getProcesses(0).getLocksCount())
                .as("below the limits").isEqualTo(1000);
    }

    @Test
    void aBodyLengthOverTheLimitIsRefusedFromTheHeaderAlone() throws IOException {
        byte[] body = MANIFEST.toByteArray();
        ManifestHeader header = ManifestHeader.newBuilder().setMagic(ManifestCodec.MAGIC).setFormatVersion(1)
                .setBodyLength(1L << 40).setBodySha256(ByteString.copyFrom(new byte[32])).build();
        assertThatThrownBy(() -> ManifestCodec.decode(withHeader(header, body))).isInstanceOf(ManifestFormatException.class)
                .hasMessageContaining("body of 1099511627776 bytes is over the limit");
        ManifestHeader negative = header.toBuilder().setBodyLength(-1).build();
        assertThatThrownBy(() -> ManifestCodec.decode(withHeader(negative, body))).isInstanceOf(ManifestFormatException.class)
                .hasMessageContaining("body of 18446744073709551615 bytes is over the limit");
    }
}
