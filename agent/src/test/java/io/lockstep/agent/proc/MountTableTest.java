package io.lockstep.agent.proc;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.lockstep.proto.FileIdentity;
import io.lockstep.proto.IdentityKind;
import java.io.IOException;
import java.io.InputStream;
import java.nio.charset.StandardCharsets;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import org.junit.jupiter.api.Test;

class MountTableTest {

    static MountTable fixture(String name) throws IOException {
        try (InputStream in = MountTableTest.class.getResourceAsStream("/mountinfo/" + name)) {
            return MountTable.parse(new String(in.readAllBytes(), StandardCharsets.UTF_8).lines().toList());
        }
    }

    @Test
    void parsesAllFieldsOfAnNfs3Line() throws IOException {
        MountInfo m = fixture("host.mountinfo").byId(40).orElseThrow();
        assertThat(m.parentId()).isEqualTo(22);
        assertThat(m.device()).isEqualTo("0:45");
        assertThat(m.root()).isEqualTo("/");
        assertThat(m.mountPoint()).isEqualTo("/mnt/nfs3");
        assertThat(m.options()).isEqualTo("rw,relatime");
        assertThat(m.optionalFields()).containsExactly("shared:30");
        assertThat(m.fsType()).isEqualTo("nfs");
        assertThat(m.source()).isEqualTo("fileserver.example.com:/export");
        assertThat(m.superOptions()).contains("addr=10.0.0.5").startsWith("rw,vers=3");
        assertThat(m.isNfs()).isTrue();
    }

    @Test
    void parsesSeveralOrNoOptionalFields() throws IOException {
        MountTable t = fixture("host.mountinfo");
        assertThat(t.byId(45).orElseThrow().optionalFields()).containsExactly("shared:33", "master:5");
        assertThat(t.byId(44).orElseThrow().optionalFields()).isEmpty();
        assertThat(t.byId(44).orElseThrow().fsType()).isEqualTo("overlay");
    }

    @Test
    void decodesOctalEscapes() throws IOException {
        assertThat(fixture("host.mountinfo").byId(43).orElseThrow().mountPoint()).isEqualTo("/mnt/my data");
        assertThat(MountInfo.unescape("a\\011b\\012c\\134d\\040e")).isEqualTo("a\tb\nc\\d e");
        assertThat(MountInfo.unescape("no\\escape")).isEqualTo("no\\escape");
    }

    @Test
    void rejectsMalformedLines() {
        assertThatThrownBy(() -> MountInfo.parse("22 1 253:0 / / rw shared:1 ext4 /dev/x rw"))
                .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("malformed mountinfo line");
        assertThatThrownBy(() -> MountInfo.parse("x 1 253:0 / / rw - ext4 /dev/x rw"))
                .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("malformed number");
    }

    @Test
    void findsTheMountOfAPathByLongestPrefixOnComponentBoundaries() throws IOException {
        MountTable t = fixture("host.mountinfo");
        assertThat(t.forPath("/data/scratch/x").orElseThrow().mountId()).isEqualTo(45);
        assertThat(t.forPath("/data/scratchpad").orElseThrow().mountId()).isEqualTo(31);
        assertThat(t.forPath("/mnt/my data/f").orElseThrow().mountId()).isEqualTo(43);
        assertThat(t.forPath("/etc/passwd").orElseThrow().mountId()).isEqualTo(22);
    }

    @Test
    void stackedMountsOnOnePointResolveToTheTopmost() {
        MountTable t = MountTable.parse(List.of(
                "22 1 253:0 / / rw - ext4 /dev/root rw",
                "30 22 0:30 / /mnt rw - tmpfs a rw",
                "31 22 0:31 / /mnt rw - tmpfs b rw"));
        assertThat(t.forPath("/mnt/f").orElseThrow().mountId()).isEqualTo(31);
    }

    /** What the fixtures' hosts would resolve: one address per server, as a DNS table would answer. */
    static final ServerNames NAMES = ResolverTable.names(Map.of(
            "fileserver.example.com", List.of("10.0.0.5"),
            "otherserver", List.of("10.0.0.9")));

    private static Optional<String> resolve(MountTable table, FileIdentity id, String host) {
        return table.locate(id, host, NAMES).map(MountTable.Located::path);
    }

    private static FileIdentity network(String source, String relative) {
        return FileIdentity.newBuilder().setKind(IdentityKind.NETWORK).setFsType("nfs")
                .setSource(source).setRelativePath(relative).build();
    }

    @Test
    void resolvesNetworkIdentitiesThroughAMountOfTheSameExport() throws IOException {
        MountTable t = fixture("restore-host.mountinfo");
        assertThat(resolve(t, network("fileserver.example.com:/export", "data/f.txt"), "h2"))
                .contains("/shared/data/f.txt");
        assertThat(resolve(t, network("fileserver.example.com:/export/", "data/f.txt"), "h2"))
                .contains("/shared/data/f.txt");
        assertThat(resolve(t, network("fileserver.example.com:/export4", "x/y"), "h2"))
                .contains("/v4/x/y");
        assertThat(resolve(t, network("fileserver.example.com:/export", ""), "h2")).contains("/shared");
    }

    @Test
    void prefersTheMountThatCoversTheFileMostSpecifically() throws IOException {
        MountTable t = fixture("restore-host.mountinfo");
        // /export/projects is mounted on its own; both mounts reach the file, the deeper one wins
        assertThat(resolve(t, network("fileserver.example.com:/export", "projects/a/f"), "h2"))
                .contains("/home/projects/a/f");
    }

    @Test
    void resolvesThroughABindMountOfASubdirectory() throws IOException {
        MountTable t = MountTable.parse(List.of(
                "22 1 253:0 / / rw - ext4 /dev/root rw",
                "42 22 0:45 /projects/a /srv/project-a rw,relatime shared:30 - nfs fileserver.example.com:/export rw,addr=10.0.0.5"));
        assertThat(resolve(t, network("fileserver.example.com:/export", "projects/a/src/Main.java"), "h2"))
                .contains("/srv/project-a/src/Main.java");
        assertThat(resolve(t, network("fileserver.example.com:/export", "projects/b/x"), "h2")).isEmpty();
        assertThat(resolve(t, network("fileserver.example.com:/export", "projects/ab"), "h2")).isEmpty();
    }

    @Test
    void doesNotResolveOtherServersOrUnmountedExports() throws IOException {
        MountTable t = fixture("restore-host.mountinfo");
        assertThat(resolve(t, network("nowhere:/export", "f"), "h2")).isEmpty();
        assertThat(resolve(t, network("fileserver.example.com:/elsewhere", "f"), "h2")).isEmpty();
    }

    @Test
    void rejectsNetworkPathsThatEscapeTheExport() throws IOException {
        MountTable t = fixture("restore-host.mountinfo");
        assertThatThrownBy(() -> resolve(t, network("fileserver.example.com:/export", "../etc/shadow"), "h2"))
                .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("escapes");
    }

    @Test
    void resolvesLocalIdentitiesOnlyOnTheirOwnHost() throws IOException {
        MountTable t = fixture("host.mountinfo");
        FileIdentity local = FileIdentity.newBuilder().setKind(IdentityKind.LOCAL).setFsType("ext4")
                .setHostId("h1").setDevice("8:17").setSource("/dev/sdb1").setRelativePath("/data/f").build();
        assertThat(resolve(t, local, "h1")).contains("/data/f");
        assertThat(resolve(t, local, "h2")).isEmpty();
        FileIdentity sneaky = local.toBuilder().setRelativePath("/data/../etc/shadow").build();
        assertThatThrownBy(() -> resolve(t, sneaky, "h1")).isInstanceOf(IllegalArgumentException.class);
    }
}
