package io.lockstep.coordinator.restore;

import io.lockstep.proto.FileIdentity;
import io.lockstep.proto.IdentityKind;
import io.lockstep.proto.LockRecord;
import org.junit.jupiter.api.Test;

import java.util.List;

import static org.assertj.core.api.Assertions.assertThat;

class HeldLockTest {
    private static HeldLock on(String source, String relative, List<String> addresses) {
        return new HeldLock("h1", "h1", 100, LockRecord.newBuilder().setIdentity(FileIdentity.newBuilder()
                .setKind(IdentityKind.NETWORK).setSource(source).setRelativePath(relative)
                .addAllServerAddresses(addresses)).build());
    }

    @Test
    void oneFileSortsAlikeHoweverHostsSpellItsServerOrReachItsExport() {
        String key = on("nfs1:/export", "app/db", List.of("10.0.0.5")).fileKey();
        assertThat(key).isEqualTo("net:10.0.0.5:/export/app/db");
        assertThat(on("nfs1.example.com:/", "export/app/db", List.of("fd00:0:0:0:0:0:0:5", "10.0.0.5")).fileKey())
                .isEqualTo(key);
        assertThat(on("10.0.0.5:/export/app", "db", List.of("10.0.0.5")).fileKey()).isEqualTo(key);
        assertThat(on("[fd00::5]:/export", "app/db", List.of()).fileKey()).isEqualTo("net:[fd00::5]:/export/app/db");
        assertThat(on("NFS1:/export/", "app/db", List.of()).fileKey()).isEqualTo("net:nfs1:/export/app/db");
    }

    @Test
    void otherServersAndOtherFilesSortApart() {
        String key = on("nfs1:/export", "app/db", List.of("10.0.0.5")).fileKey();
        assertThat(on("nfs7:/export", "app/db", List.of("10.0.0.77")).fileKey()).isNotEqualTo(key);
        assertThat(on("nfs1:/export", "app/db2", List.of("10.0.0.5")).fileKey()).isNotEqualTo(key);
    }

    @Test
    void reportsNameTheFileAsRecorded() {
        assertThat(on("nfs1:/export", "app/db", List.of("10.0.0.5")).describe())
                .contains("lock on nfs1:/export//app/db");
    }
}
