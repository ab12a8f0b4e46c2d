package io.lockstep.names;

import com.google.protobuf.ByteString;
import io.lockstep.manifest.ManifestCodec;
import io.lockstep.proto.FdRecord;
import io.lockstep.proto.FileIdentity;
import io.lockstep.proto.Manifest;
import io.lockstep.proto.ProcessRecord;
import io.lockstep.proto.RestartSpec;
import org.junit.jupiter.api.Test;

import java.nio.charset.StandardCharsets;
import java.util.Random;

import static org.assertj.core.api.Assertions.assertThat;

class RawNamesTest {
    private static final String LATIN1_ETE = RawNames.decode(new byte[] {(byte) 0xe9, 't', (byte) 0xe9});

    @Test
    void everyByteStringDecodesToAStringThatEncodesBackToTheSameBytes() {
        Random random = new Random(24);
        for (int i = 0; i < 20_000; i++) {
            byte[] bytes = new byte[random.nextInt(12)];
            random.nextBytes(bytes);
            assertThat(RawNames.encode(RawNames.decode(bytes))).as("round trip of %s", java.util.HexFormat.of()
                    .formatHex(bytes)).isEqualTo(bytes);
        }
        for (int b = 0; b < 256; b++) {
            byte[] one = {(byte) b};
            assertThat(RawNames.encode(RawNames.decode(one))).isEqualTo(one);
        }
    }

    @Test
    void validUtf8DecodesAsUsualAndOtherBytesAsEscapes() {
        assertThat(RawNames.decode("données 日本 \uD83D\uDE00".getBytes(StandardCharsets.UTF_8)))
                .isEqualTo("données 日本 \uD83D\uDE00");
        // encoded surrogates and an encoded U+FFFD: the first are not UTF-8, the second is
        byte[] surrogate = {(byte) 0xed, (byte) 0xb2, (byte) 0x80};
        assertThat(RawNames.hasEscapes(RawNames.decode(surrogate))).isTrue();
        assertThat(RawNames.encode(RawNames.decode(surrogate))).isEqualTo(surrogate);
        assertThat(RawNames.decode("\uFFFD".getBytes(StandardCharsets.UTF_8))).isEqualTo("\uFFFD");
    }

    @Test
    void displayEscapesUndecodableBytesAndControlCharactersOnly() {
        assertThat(RawNames.display(LATIN1_ETE)).isEqualTo("\\xe9t\\xe9");
        assertThat(RawNames.display("a\nb\tc")).isEqualTo("a\\x0ab\\x09c");
        assertThat(RawNames.display("données \"x\" y")).isEqualTo("données \"x\" y");
        assertThat(RawNames.needsEscaping("données")).isFalse();
    }

    @Test
    void nulSeparatedEntriesKeepEmptyOnesAndTheirBytes() {
        byte[] cmdline = {'a', 0, 0, (byte) 0xff, '=', 'x', 0};
        assertThat(RawNames.splitNul(cmdline)).containsExactly("a", "", RawNames.decode(new byte[] {(byte) 0xff}) + "=x");
    }

    @Test
    void aManifestKeepsEveryNameExactlyAndStoresItsDisplayBesideTheBytes() throws Exception {
        String path = "/srv/verrou " + LATIN1_ETE + ".lock";
        Manifest manifest = Manifest.newBuilder().setGroup("app").setHostId("h1").addProcesses(ProcessRecord.newBuilder()
                .setPid(7).addArgv("prog").addArgv("new\nline").addArgv("").addArgv(LATIN1_ETE)
                .setCwd("/srv/r\u00e9p " + LATIN1_ETE)
                .setRestart(RestartSpec.newBuilder().addArgv("prog").addArgv(LATIN1_ETE).setCwd("/srv")
                        .putEnv("LATIN1", LATIN1_ETE).putEnv("EQ", "a=b"))
                .addFds(FdRecord.newBuilder().setFd(3).setPath(path).setIdentity(FileIdentity.newBuilder()
                        .setRelativePath(path)))).build();

        byte[] stored = ManifestCodec.encode(manifest);
        assertThat(ManifestCodec.decode(stored)).isEqualTo(manifest);

        Manifest deflated = RecordedNames.deflate(manifest);
        FdRecord fd = deflated.getProcesses(0).getFds(0);
        assertThat(fd.getPath()).isEqualTo("/srv/verrou \\xe9t\\xe9.lock");
        assertThat(fd.getRawPath().toByteArray()).isEqualTo(RawNames.encode(path));
        assertThat(fd.getIdentity().getRawRelativePath()).isEqualTo(RawNames.bytes(path));
        assertThat(deflated.getProcesses(0).getArgvList()).containsExactly("prog", "new\\x0aline", "", "\\xe9t\\xe9");
        assertThat(deflated.getProcesses(0).getRestart().getRawEnvList())
                .contains(ByteString.copyFrom(new byte[] {'L', 'A', 'T', 'I', 'N', '1', '=', (byte) 0xe9, 't', (byte) 0xe9}));
    }

    @Test
    void plainNamesGetNoBytesFieldsAndRecordsOfOlderAgentsReadAsTheyAre() throws Exception {
        Manifest old = Manifest.newBuilder().setGroup("app").addProcesses(ProcessRecord.newBuilder().setPid(1)
                .addArgv("prog").addArgv("données").setCwd("/srv/répertoire")
                .addFds(FdRecord.newBuilder().setFd(3).setPath("/srv/données.lock"))).build();
        assertThat(RecordedNames.deflate(old)).as("nothing to add for UTF-8 text").isEqualTo(old);
        assertThat(ManifestCodec.decode(ManifestCodec.encode(old))).isEqualTo(old);
    }
}
