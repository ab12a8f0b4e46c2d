package io.lockstep.manifest;

import io.lockstep.proto.Manifest;
import io.lockstep.proto.ProcessRecord;
import io.lockstep.proto.RestartSpec;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.security.SecureRandom;
import java.util.HexFormat;
import java.util.Optional;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

class ManifestKeyTest {
    private static final String SECRET = "hunter2-token";
    private static final Manifest MANIFEST = Manifest.newBuilder().setGroup("g").setHostId("h1")
            .addProcesses(ProcessRecord.newBuilder().setPid(7).setRestart(RestartSpec.newBuilder().addArgv("/bin/app")
                    .putEnv("API_TOKEN", SECRET).putEnv("LANG", "C").setEnvFile("/etc/app.env")
                    .addEnvFileNames("DB_PASSWORD")))
            .build();

    @TempDir
    Path dir;

    private Path keyFile(String name) throws IOException {
        byte[] key = new byte[32];
        new SecureRandom().nextBytes(key);
        Path file = dir.resolve(name);
        Files.writeString(file, HexFormat.of().formatHex(key) + "\n");
        Files.setPosixFilePermissions(file, PosixFilePermissions.fromString("rw-------"));
        return file;
    }

    @Test
    void sealedManifestOpensWithItsKeyAndHidesItsContent() throws Exception {
        ManifestKey key = ManifestKey.read(keyFile("k"));
        byte[] framed = ManifestCodec.encode(MANIFEST);
        byte[] sealed = key.seal(framed);
        assertThat(ManifestKey.isSealed(sealed)).isTrue();
        assertThat(ManifestKey.isSealed(framed)).as("a plaintext manifest is not taken for a sealed one").isFalse();
        assertThat(new String(sealed, StandardCharsets.ISO_8859_1)).doesNotContain(SECRET).doesNotContain("API_TOKEN");
        assertThat(ManifestCodec.decode(ManifestKey.unseal(Optional.of(key), sealed))).isEqualTo(MANIFEST);
        assertThat(ManifestKey.unseal(Optional.of(key), framed)).as("plaintext manifests stay readable").isEqualTo(framed);
    }

    @Test
    void wrongKeyMissingKeyAndAlteredBytesAreRefusedClearly() throws Exception {
        ManifestKey key = ManifestKey.read(keyFile("k"));
        Path otherFile = keyFile("other");
        ManifestKey other = ManifestKey.read(otherFile);
        byte[] sealed = key.seal(ManifestCodec.encode(MANIFEST));

        assertThatThrownBy(() -> ManifestKey.unseal(Optional.of(other), sealed)).isInstanceOf(ManifestFormatException.class)
                .hasMessageContaining("encrypted with another key").hasMessageContaining(key.id())
                .hasMessageContaining(otherFile.toString());
        assertThatThrownBy(() -> ManifestKey.unseal(Optional.empty(), sealed)).isInstanceOf(ManifestFormatException.class)
                .hasMessageContaining("pass its key with --manifest-key");
        byte[] altered = sealed.clone();
        altered[altered.length - 40] ^= 1;
        assertThatThrownBy(() -> ManifestKey.unseal(Optional.of(key), altered)).isInstanceOf(ManifestFormatException.class)
                .hasMessageContaining("fails authentication");
        byte[] truncated = java.util.Arrays.copyOf(sealed, 30);
        assertThatThrownBy(() -> ManifestKey.unseal(Optional.of(key), truncated)).isInstanceOf(ManifestFormatException.class)
                .hasMessageContaining("truncated");
    }

    @Test
    void keyFilesReadableByOthersOrNotKeysAreRefused() throws Exception {
        Path open = keyFile("open");
        Files.setPosixFilePermissions(open, PosixFilePermissions.fromString("rw-r--r--"));
        assertThatThrownBy(() -> ManifestKey.read(open)).isInstanceOf(IllegalArgumentException.class)
                .hasMessageContaining(open.toString()).hasMessageContaining("0644").hasMessageContaining("chmod 600");
        Path shortKey = dir.resolve("short");
        Files.writeString(shortKey, "abcd\n");
        Files.setPosixFilePermissions(shortKey, PosixFilePermissions.fromString("rw-------"));
        assertThatThrownBy(() -> ManifestKey.read(shortKey)).isInstanceOf(IllegalArgumentException.class)
                .hasMessageContaining("64 hex digits");
        assertThatThrownBy(() -> ManifestKey.read(dir.resolve("absent"))).isInstanceOf(IllegalArgumentException.class)
                .hasMessageContaining("no such file");
    }

    @Test
    void printedManifestsShowEnvironmentNamesOnlyUnlessAsked() {
        assertThat(ManifestPrinter.toJson(MANIFEST)).contains("API_TOKEN").doesNotContain(SECRET)
                .contains(ManifestPrinter.HIDDEN_VALUE);
        assertThat(ManifestPrinter.toText(MANIFEST)).contains("env: API_TOKEN LANG (values hidden")
                .contains("env file: /etc/app.env (DB_PASSWORD;").doesNotContain(SECRET);
        assertThat(ManifestPrinter.toJson(MANIFEST, true)).contains(SECRET);
        assertThat(ManifestPrinter.toText(MANIFEST, true)).contains("API_TOKEN=" + SECRET);
    }
}
