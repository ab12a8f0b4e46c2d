package io.lockstep.agent.hooks;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.util.LinkedHashMap;
import java.util.Map;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

/** The signal hook's files, on a real directory: what the program reads, and what the agent (root) never trusts. */
class AckChannelTest {
    private static final int NOBODY = 65534;

    @TempDir
    Path dir;

    @Test
    void theRequestIsSourceableTheChannelIsTheProgramsAndOnlyItsIdAcknowledges() throws Exception {
        AckChannel channel = AckChannel.of(dir.resolve("hooks"), "app", AckChannel.newId());
        channel.prepare(NOBODY, NOBODY);
        Map<String, String> request = new LinkedHashMap<>();
        request.put("LOCKSTEP_HOOK", "pre-freeze");
        request.put("LOCKSTEP_CHECKPOINT", "ckpt-000007");
        request.put("LOCKSTEP_GROUP", "it's");

        channel.post(request, NOBODY, NOBODY);

        Path channelDir = channel.request().getParent();
        assertThat(Files.getAttribute(channelDir, "unix:uid")).isEqualTo(NOBODY);
        assertThat(PosixFilePermissions.toString(Files.getPosixFilePermissions(channelDir))).isEqualTo("rwx------");
        assertThat(PosixFilePermissions.toString(Files.getPosixFilePermissions(channelDir.getParent()))).isEqualTo("rwx--x--x");
        assertThat(Files.getAttribute(channel.request(), "unix:uid")).isEqualTo(NOBODY);
        Process shell = new ProcessBuilder("/bin/sh", "-c", ". " + channel.request()
                + "; echo \"$LOCKSTEP_HOOK $LOCKSTEP_CHECKPOINT $LOCKSTEP_GROUP\"").start();
        assertThat(new String(shell.getInputStream().readAllBytes()).trim()).isEqualTo("pre-freeze ckpt-000007 it's");
        assertThat(channel.acknowledged("ckpt-000007")).isFalse();
        Files.writeString(channel.ack(), "ckpt-000006\n");
        assertThat(channel.acknowledged("ckpt-000007")).as("another checkpoint's id").isFalse();
        Files.writeString(channel.ack(), "ckpt-000007\n");
        assertThat(channel.acknowledged("ckpt-000007")).isTrue();

        channel.post(request, NOBODY, NOBODY);
        assertThat(channel.ack()).as("a new request removes the old acknowledgement").doesNotExist();
    }

    @Test
    void aLinkPlacedByTheProgramIsNeitherFollowedForTheRequestNorReadAsItsAcknowledgement() throws Exception {
        AckChannel channel = AckChannel.of(dir.resolve("hooks"), "app", AckChannel.newId());
        channel.prepare(NOBODY, NOBODY);
        Path victim = Files.writeString(dir.resolve("victim"), "ckpt-000001\n");
        Files.createSymbolicLink(channel.request(), victim);
        Files.createSymbolicLink(channel.ack(), victim);

        assertThat(channel.acknowledged("ckpt-000001")).as("a link is not an acknowledgement").isFalse();
        channel.post(Map.of("LOCKSTEP_CHECKPOINT", "ckpt-000002"), NOBODY, NOBODY);

        assertThat(Files.readString(victim)).isEqualTo("ckpt-000001\n");
        assertThat(Files.isSymbolicLink(channel.request())).isFalse();
        assertThat(Files.isRegularFile(channel.request(), LinkOption.NOFOLLOW_LINKS)).isTrue();
    }

    @Test
    void anIdFromAManifestThatIsNotSixteenHexDigitsIsRefused() {
        assertThatThrownBy(() -> AckChannel.of(dir, "app", "../../etc")).isInstanceOf(IOException.class)
                .hasMessageContaining("hook acknowledgement id ../../etc is not 16 hex digits");
    }
}
