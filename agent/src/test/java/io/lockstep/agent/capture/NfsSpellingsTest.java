package io.lockstep.agent.capture;

import static org.assertj.core.api.Assertions.assertThat;

import io.lockstep.agent.proc.MountInfo;
import io.lockstep.agent.proc.MountTable;
import io.lockstep.agent.proc.ResolverTable;
import io.lockstep.agent.proc.ServerNames;
import io.lockstep.proto.FileIdentity;
import io.lockstep.proto.IdentityKind;
import io.lockstep.proto.MatchRule;
import io.lockstep.proto.ServerMatch;
import java.io.IOException;
import java.io.InputStream;
import java.nio.charset.StandardCharsets;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import org.junit.jupiter.api.Test;

/**
 * A file recorded on one host is found on another that spells the NFS server otherwise: real
 * mountinfo lines of both hosts, and each host's own name table (the recording host knows the
 * short name nfs1, the restoring host only nfs1.example.com: the addresses recorded in the
 * identity tie them).
 */
class NfsSpellingsTest {
    /** The recording host's DNS. */
    private static final ServerNames ON_RECORDING_HOST = ResolverTable.names(Map.of(
            "nfs1", List.of("10.0.0.5"),
            "nfs2.example.com", List.of("10.0.0.8"),
            "filer3", List.of("10.0.0.9"),
            "filer-a", List.of("10.0.0.6"),
            "nfs7", List.of("10.0.0.77")));
    /** The restoring host's DNS: another search domain, other names. */
    private static final Map<String, List<String>> RESTORING_DNS = Map.of(
            "nfs1.example.com", List.of("10.0.0.5"),
            "nfs6", List.of("fd00::5"),
            "filer-b", List.of("10.1.0.6"),
            "nfs9", List.of("10.0.0.50"));
    private static final ServerNames ON_RESTORING_HOST = ResolverTable.names(RESTORING_DNS);

    private static MountTable fixture(String name) throws IOException {
        try (InputStream in = NfsSpellingsTest.class.getResourceAsStream("/mountinfo/" + name)) {
            return MountTable.parse(new String(in.readAllBytes(), StandardCharsets.UTF_8).lines().toList());
        }
    }

    private static FileIdentity recorded(String path, int mntId) throws IOException {
        return new PortableIdentities(fixture("spellings-recording.mountinfo"), "host-a", ON_RECORDING_HOST)
                .identify(path, mntId);
    }

    private static Optional<MountTable.Located> onRestoringHost(FileIdentity id) throws IOException {
        return fixture("spellings-restoring.mountinfo").locate(id, "host-b", ON_RESTORING_HOST);
    }

    private static void assertFound(Optional<MountTable.Located> found, String path, MatchRule rule) {
        assertThat(found).as("found on the restoring host").isPresent();
        assertThat(found.get().path()).isEqualTo(path);
        assertThat(found.get().match()).map(ServerMatch::getRule).contains(rule);
    }

    @Test
    void aShortNameRecordedWithItsAddressIsFoundThroughTheFqdnTheRestoringHostMounts() throws IOException {
        FileIdentity id = recorded("/mnt/short/app/db", 70);
        assertThat(id.getSource()).isEqualTo("nfs1:/export");
        assertThat(id.getServer()).isEqualTo("nfs1");
        assertThat(id.getServerAddressesList()).containsExactly("10.0.0.5");

        Optional<MountTable.Located> found = onRestoringHost(id);
        // the restoring host cannot resolve "nfs1" at all: the recorded address decides
        assertFound(found, "/data/fqdn/app/db", MatchRule.SHARED_ADDRESS);
        assertThat(found.get().match().get().getRecorded()).isEqualTo("nfs1:/export");
        assertThat(found.get().match().get().getLocal()).isEqualTo("NFS1.example.com.:/export");
        assertThat(found.get().match().get().getDetail()).contains("10.0.0.5");
    }

    @Test
    void anIpv6LiteralInBracketsMatchesANameThatResolvesToIt() throws IOException {
        FileIdentity id = recorded("/mnt/v6/x", 71);
        assertThat(id.getSource()).isEqualTo("[fd00::5]:/data");
        assertFound(onRestoringHost(id), "/data/v6/x", MatchRule.SHARED_ADDRESS);

        FileIdentity unbracketed = id.toBuilder().setSource("fd00::5:/data").setServer("fd00::5")
                .clearServerAddresses().build();
        assertFound(onRestoringHost(unbracketed), "/data/v6/x", MatchRule.SHARED_ADDRESS);
    }

    @Test
    void anIpLiteralMatchesTheFqdnAndTheDeepestMountOfTheSameServerServes() throws IOException {
        FileIdentity id = recorded("/mnt/ip/tmp1", 74);
        assertThat(id.getSource()).isEqualTo("10.0.0.5:/export/scratch");
        // /pseudo (nfs1.example.com:/) reaches it too; /data/fqdn (…:/export) is more specific
        assertFound(onRestoringHost(id), "/data/fqdn/scratch/tmp1", MatchRule.SHARED_ADDRESS);
    }

    @Test
    void anNfs4PseudoRootMountReachesAnExportOthersMountDirectlyAndBack() throws IOException {
        FileIdentity underPseudoRoot = recorded("/mnt/pseudo/export2/f", 72);
        assertThat(underPseudoRoot.getSource()).isEqualTo("nfs2.example.com:/");
        assertThat(underPseudoRoot.getRelativePath()).isEqualTo("export2/f");
        assertFound(onRestoringHost(underPseudoRoot), "/data/export2/f", MatchRule.SHARED_ADDRESS);

        // recorded on the restoring host through its pseudo-root mount, found through a direct mount
        FileIdentity back = new PortableIdentities(fixture("spellings-restoring.mountinfo"), "host-b", ON_RESTORING_HOST)
                .identify("/pseudo/export/app/db", 94);
        assertThat(back.getSource()).isEqualTo("nfs1.example.com:/");
        assertThat(fixture("spellings-recording.mountinfo").locate(back, "host-a", ON_RECORDING_HOST)
                .map(MountTable.Located::path)).contains("/mnt/short/app/db");

        // a direct mount's file, on a host that mounts only the pseudo-root
        List<MountInfo> onlyPseudoRoot = fixture("spellings-restoring.mountinfo").entries().stream()
                .filter(m -> m.mountId() != 90).toList();
        assertThat(new MountTable(onlyPseudoRoot).locate(recorded("/mnt/short/app/db", 70), "host-b", ON_RESTORING_HOST)
                .map(MountTable.Located::path)).contains("/pseudo/export/app/db");
    }

    @Test
    void aBindMountOfASubdirectoryIsFoundThroughAMountOfAnotherSubdirectoryByAddress() throws IOException {
        FileIdentity id = recorded("/srv/a/src/Main.java", 73);
        assertThat(id.getSource()).isEqualTo("filer3:/vol");
        assertThat(id.getRelativePath()).isEqualTo("projects/a/src/Main.java");
        assertFound(onRestoringHost(id), "/home/projects/a/src/Main.java", MatchRule.SHARED_ADDRESS);
    }

    @Test
    void twoDifferentServersWithTheSameExportPathDoNotMatch() throws IOException {
        FileIdentity id = recorded("/mnt/nfs7/app/db", 76);
        assertThat(id.getServerAddressesList()).containsExactly("10.0.0.77");
        // nfs9:/export and nfs1.example.com:/ both reach a path /export/app/db, on other servers
        assertThat(onRestoringHost(id)).isEmpty();
        String why = fixture("spellings-restoring.mountinfo").whyMissing(id, ON_RESTORING_HOST);
        assertThat(why)
                .contains("recorded server nfs7 resolved to 10.0.0.77 on the recording host and to nothing here")
                .contains("nfs9:/export on /data/nfs9: another server: nfs9 (10.0.0.50)")
                .contains("nfs1.example.com:/ on /pseudo: another server: nfs1.example.com (10.0.0.5)");
    }

    @Test
    void serversDnsDoesNotTieMatchOnlyThroughTheOperatorsAliasList() throws IOException {
        FileIdentity id = recorded("/mnt/filer-a/vm/disk.lock", 75);
        assertThat(onRestoringHost(id)).isEmpty();
        assertThat(fixture("spellings-restoring.mountinfo").whyMissing(id, ON_RESTORING_HOST))
                .contains("recorded server filer-a resolved to 10.0.0.6 on the recording host")
                .contains("filer-b:/san on /data/filer-b: another server: filer-b (10.1.0.6)");

        ServerNames withAlias = ResolverTable.names(RESTORING_DNS, ServerNames.parseAliases(List.of("filer-a=filer-b")));
        Optional<MountTable.Located> found = fixture("spellings-restoring.mountinfo").locate(id, "host-b", withAlias);
        assertFound(found, "/data/filer-b/vm/disk.lock", MatchRule.ALIAS);
        assertThat(found.get().match().get().getDetail()).isEqualTo("--nfs-alias filer-a,filer-b");

        // an alias may name the address instead: the recorded 10.0.0.6 is filer-b's other interface
        ServerNames byAddress = ResolverTable.names(RESTORING_DNS, ServerNames.parseAliases(List.of("filer-b=10.0.0.6")));
        assertFound(fixture("spellings-restoring.mountinfo").locate(id, "host-b", byAddress),
                "/data/filer-b/vm/disk.lock", MatchRule.ALIAS);
    }

    @Test
    void identitiesOfOlderAgentsWithoutAddressesMatchByNameOrByWhatTheRestoringHostResolves() throws IOException {
        FileIdentity old = FileIdentity.newBuilder().setKind(IdentityKind.NETWORK).setFsType("nfs4")
                .setSource("nfs1.example.com:/export").setRelativePath("app/db").build();
        assertFound(onRestoringHost(old), "/data/fqdn/app/db", MatchRule.SAME_NAME);
        // a spelling only the recording host could resolve, and no addresses recorded: not found
        assertThat(onRestoringHost(old.toBuilder().setSource("nfs1:/export").build())).isEmpty();
    }

    @Test
    void aMatchOnTheServerStillNeedsAMountThatContainsThePath() throws IOException {
        FileIdentity id = recorded("/mnt/v6/x", 71).toBuilder().setSource("[fd00::5]:/elsewhere").build();
        assertThat(onRestoringHost(id)).isEmpty();
        assertThat(fixture("spellings-restoring.mountinfo").whyMissing(id, ON_RESTORING_HOST))
                .contains("nfs6:/data on /data/v6: the same server (shared address")
                .contains("but /data does not contain /elsewhere/x");
    }
}
