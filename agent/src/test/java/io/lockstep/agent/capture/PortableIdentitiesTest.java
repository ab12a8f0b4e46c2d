package io.lockstep.agent.capture;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.lockstep.agent.proc.MountTable;
import io.lockstep.agent.proc.ResolverTable;
import io.lockstep.agent.proc.ServerNames;
import io.lockstep.proto.FileIdentity;
import io.lockstep.proto.IdentityKind;
import java.io.IOException;
import java.io.InputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;

class PortableIdentitiesTest {
    private static final ServerNames NAMES = ResolverTable.names(Map.of("fileserver.example.com", List.of("10.0.0.5")));

    private static PortableIdentities ids() throws IOException {
        try (InputStream in = PortableIdentitiesTest.class.getResourceAsStream("/mountinfo/host.mountinfo")) {
            return new PortableIdentities(
                    MountTable.parse(new String(in.readAllBytes(), StandardCharsets.UTF_8).lines().toList()), "host-1",
                    NAMES);
        }
    }

    @Test
    void nfs3FileIsServerExportPlusPathRelativeToTheExport() throws IOException {
        FileIdentity id = ids().identify("/mnt/nfs3/data/f.txt", 40);
        assertThat(id.getKind()).isEqualTo(IdentityKind.NETWORK);
        assertThat(id.getFsType()).isEqualTo("nfs");
        assertThat(id.getSource()).isEqualTo("fileserver.example.com:/export");
        assertThat(id.getRelativePath()).isEqualTo("data/f.txt");
        assertThat(id.getHostId()).isEmpty();
        assertThat(id.getServer()).as("the server as the mount source writes it").isEqualTo("fileserver.example.com");
        assertThat(id.getServerAddressesList()).as("resolved on the recording host").containsExactly("10.0.0.5");
    }

    @Test
    void nfs4SourceIsNormalizedWithoutTrailingSlash() throws IOException {
        FileIdentity id = ids().identify("/mnt/nfs4/x/y", 41);
        assertThat(id.getSource()).isEqualTo("fileserver.example.com:/export4");
        assertThat(id.getFsType()).isEqualTo("nfs4");
        assertThat(id.getRelativePath()).isEqualTo("x/y");
    }

    @Test
    void bindMountOfASubdirectoryIsRelativeToTheExportRootNotTheMount() throws IOException {
        FileIdentity id = ids().identify("/srv/project-a/src/Main.java", 42);
        assertThat(id.getSource()).isEqualTo("fileserver.example.com:/export");
        assertThat(id.getRelativePath()).isEqualTo("projects/a/src/Main.java");
        assertThat(ids().identify("/mnt/nfs3/projects/a/src/Main.java", 40)).isEqualTo(id.toBuilder().setFsType("nfs").build());
    }

    @Test
    void theExportRootItselfHasAnEmptyRelativePath() throws IOException {
        assertThat(ids().identify("/mnt/nfs3", 40).getRelativePath()).isEmpty();
    }

    @Test
    void anNfsPathOutsideTheMountOfItsMntIdIsRefusedRatherThanGuessed() throws IOException {
        assertThatThrownBy(() -> ids().identify("/elsewhere/f", 40))
                .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("not under mount point /mnt/nfs3");
    }

    @Test
    void localFilesAreHostDeviceAndAbsolutePath() throws IOException {
        FileIdentity id = ids().identify("/data/f", 31);
        assertThat(id.getKind()).isEqualTo(IdentityKind.LOCAL);
        assertThat(id.getHostId()).isEqualTo("host-1");
        assertThat(id.getDevice()).isEqualTo("8:17");
        assertThat(id.getSource()).isEqualTo("/dev/sdb1");
        assertThat(id.getFsType()).isEqualTo("ext4");
        assertThat(id.getRelativePath()).isEqualTo("/data/f");
        assertThat(ids().identify("/tmp/x", 26).getFsType()).isEqualTo("tmpfs");
        assertThat(ids().identify("/var/lib/containers/overlay/merged/etc/hosts", 44).getFsType()).isEqualTo("overlay");
    }

    @Test
    void unknownMountIdFallsBackToTheLongestMountPointPrefix() throws IOException {
        FileIdentity id = ids().identify("/mnt/my data/file", -1);
        assertThat(id.getDevice()).isEqualTo("0:47");
        assertThat(id.getRelativePath()).isEqualTo("/mnt/my data/file");
    }

    @Test
    void identitiesRoundTripThroughResolveOnAnotherHost() throws IOException {
        FileIdentity id = ids().identify("/srv/project-a/src/Main.java", 42);
        MountTable other = MountTable.parse(List.of(
                "22 1 253:0 / / rw - ext4 /dev/root rw",
                "50 22 0:60 / /nfs rw - nfs fileserver.example.com:/export/ rw,addr=10.0.0.5"));
        assertThat(other.locate(id, "host-2", NAMES).map(MountTable.Located::path))
                .contains("/nfs/projects/a/src/Main.java");
    }

    @Test
    void liveIdentityOfThisProcessesCwdCarriesAHandleWhereSupported() throws IOException {
        PortableIdentities live = PortableIdentities.ofProcess((int) ProcessHandle.current().pid(), "me", NAMES);
        String cwd = Path.of("").toAbsolutePath().toString();
        List<String> warnings = new ArrayList<>();
        FileIdentity id = live.identifyWithHandle(cwd, -1, Path.of("/proc/self/cwd"), warnings::add);
        assertThat(warnings).isEmpty();
        assertThat(id.getRelativePath()).isNotEmpty();
        // ext4/xfs/tmpfs/overlay support handles; an fs without them leaves the fields empty
        assertThat(id.getFileHandle().isEmpty()).isEqualTo(id.getHandleType() == 0);
    }
}
