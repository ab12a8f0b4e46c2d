package io.lockstep.agent.restore;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.util.Map;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

class EnvFileTest {
    /** The tests run as root: files they create are owned by uid 0. */
    private static final int ROOT = 0;

    @TempDir
    Path dir;

    private Path file(String text, String mode) throws IOException {
        Path file = dir.resolve("app.env");
        Files.writeString(file, text);
        Files.setPosixFilePermissions(file, PosixFilePermissions.fromString(mode));
        return file;
    }

    @Test
    void readsNameValueLinesSkippingCommentsAndBlanks() throws Exception {
        Path file = file("# comment\nDB_PASSWORD=a=b c \n\n  \r\nAPI_MODE=\nLAST=x\r\nLAST=y", "rw-------");
        assertThat(EnvFile.read(file.toString(), ROOT)).containsExactly(Map.entry("DB_PASSWORD", "a=b c "),
                Map.entry("API_MODE", ""), Map.entry("LAST", "y"));
    }

    @Test
    void aBadLineIsNamedByNumberNeverByContent() throws Exception {
        Path file = file("OK=1\nhunter2-not-a-variable\n", "rw-------");
        assertThatThrownBy(() -> EnvFile.read(file.toString(), ROOT)).isInstanceOf(IOException.class)
                .hasMessageContaining(file + " line 2").hasMessageNotContaining("hunter2");
    }

    @Test
    void refusesFilesOthersCouldWriteOrAnotherUidOwnsOrLinks() throws Exception {
        Path writable = file("A=1\n", "rw-rw-r--");
        assertThatThrownBy(() -> EnvFile.read(writable.toString(), ROOT)).hasMessageContaining("writable by group or others");
        Path owned = file("A=1\n", "rw-------");
        assertThatThrownBy(() -> EnvFile.read(owned.toString(), 1000)).hasMessageContaining("owned by uid 0, not by the process's uid 1000");
        Path link = Files.createSymbolicLink(dir.resolve("link.env"), owned);
        assertThatThrownBy(() -> EnvFile.read(link.toString(), ROOT)).hasMessageContaining("not a regular file");
        assertThatThrownBy(() -> EnvFile.read(dir.resolve("absent.env").toString(), ROOT)).hasMessageContaining("no such file");
    }
}
