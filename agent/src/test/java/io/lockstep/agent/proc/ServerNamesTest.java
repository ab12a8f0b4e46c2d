package io.lockstep.agent.proc;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.awaitility.Awaitility.await;

import io.lockstep.proto.MatchRule;
import io.lockstep.proto.ServerMatch;
import java.net.InetAddress;
import java.net.UnknownHostException;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.CountDownLatch;
import org.junit.jupiter.api.Test;

class ServerNamesTest {
    private static final ServerNames NAMES = ResolverTable.names(Map.of(
            "nfs1", List.of("10.0.0.5"),
            "nfs1.example.com", List.of("10.0.0.5", "fd00::5"),
            "nfs2", List.of("10.0.0.8")),
            ServerNames.parseAliases(List.of("nfs2=nfs2-eth1")));

    private static ServerMatch match(String recorded, String local) {
        return NAMES.match(NAMES.server(recorded, List.of()), NAMES.server(local, List.of())).orElse(null);
    }

    @Test
    void spellingsAreComparedWithoutCaseBracketsTrailingDotOrIpv6Shorthand() {
        assertThat(ServerNames.normalize("NFS1.Example.COM.")).isEqualTo("nfs1.example.com");
        assertThat(ServerNames.normalize("[FD00::5]")).isEqualTo(ServerNames.normalize("fd00:0:0::5"));
        assertThat(ServerNames.normalize("[fd00::5]")).isEqualTo("fd00:0:0:0:0:0:0:5");
        assertThat(ServerNames.normalize("10.0.0.5")).isEqualTo("10.0.0.5");
        assertThat(ServerNames.normalize("nfs1")).isNotEqualTo(ServerNames.normalize("nfs1.example.com"));
    }

    @Test
    void eachRuleIsNamedWithWhatMadeItMatch() {
        assertThat(match("nfs1", "NFS1.")).satisfies(m -> assertThat(m.getRule()).isEqualTo(MatchRule.SAME_NAME));
        assertThat(match("[fd00::5]", "fd00::5").getRule()).isEqualTo(MatchRule.SAME_NAME);
        assertThat(match("nfs1", "nfs1.example.com")).satisfies(m -> {
            assertThat(m.getRule()).isEqualTo(MatchRule.SHARED_ADDRESS);
            assertThat(m.getDetail()).isEqualTo("nfs1 and nfs1.example.com both resolve to 10.0.0.5");
        });
        assertThat(match("[fd00::5]", "nfs1.example.com").getRule()).isEqualTo(MatchRule.SHARED_ADDRESS);
        assertThat(match("10.0.0.5", "nfs1").getRule()).isEqualTo(MatchRule.SHARED_ADDRESS);
        assertThat(match("nfs2-eth1", "nfs2")).satisfies(m -> {
            assertThat(m.getRule()).isEqualTo(MatchRule.ALIAS);
            assertThat(m.getDetail()).isEqualTo("--nfs-alias nfs2,nfs2-eth1");
        });
    }

    @Test
    void differentServersAndUnresolvableNamesDoNotMatch() {
        assertThat(match("nfs1", "nfs2")).isNull();
        assertThat(match("nfs1", "10.0.0.8")).isNull();
        assertThat(match("unknown", "nfs1")).isNull();
        assertThat(match("unknown", "unknown-too")).isNull();
        assertThat(NAMES.addresses("unknown")).isEmpty();
    }

    @Test
    void addressesKnownWithoutLookupCountToo() {
        // the recording host's answer (in the manifest) or the mount's addr= option
        ServerNames.Server recorded = NAMES.server("filer-x", List.of("10.0.0.8"));
        assertThat(NAMES.match(recorded, NAMES.server("nfs2", List.of()))).map(ServerMatch::getRule)
                .contains(MatchRule.SHARED_ADDRESS);
        assertThat(NAMES.server("nfs1.example.com", List.of("[fd00::5]")).addresses())
                .containsExactly("10.0.0.5", "fd00:0:0:0:0:0:0:5");
    }

    @Test
    void aliasValuesSharingASpellingAreOneServer() {
        List<Set<String>> groups = ServerNames.parseAliases(List.of("nfs1=nfs1-eth1,10.0.0.6", "head2=NFS1-ETH1",
                "other=[fd00::6]"));
        assertThat(groups).containsExactlyInAnyOrder(Set.of("nfs1", "nfs1-eth1", "10.0.0.6", "head2"),
                Set.of("other", "fd00:0:0:0:0:0:0:6"));
    }

    @Test
    void aliasValuesNotOfTheFormNameEqualsOthersAreRefusedByValue() {
        for (String bad : List.of("nfs1", "=nfs2", "nfs1=", "nfs1=,", "nfs1=nfs2:/export", "nfs1=a b")) {
            assertThatThrownBy(() -> ServerNames.parseAliases(List.of(bad)))
                    .as(bad).isInstanceOf(IllegalArgumentException.class)
                    .hasMessageContaining("--nfs-alias '" + bad + "' is not NAME=OTHER[,OTHER...]");
        }
    }

    @Test
    void aLookupThatDoesNotAnswerInTimeCountsAsNoAddressesAndItsLateAnswerIsUsedLater() throws Exception {
        CountDownLatch dnsAnswers = new CountDownLatch(1);
        ServerNames slow = new ServerNames(name -> {
            try {
                dnsAnswers.await();
            } catch (InterruptedException e) {
                throw new UnknownHostException(name + ": lookup interrupted");
            }
            return List.of(InetAddress.getByName("10.0.0.5"));
        }, List.of());
        try {
            assertThat(slow.addresses("nfs1")).as("answer while the resolver hangs").isEmpty();
        } finally {
            dnsAnswers.countDown();
        }
        await("the late answer is cached").atMost(Duration.ofSeconds(10))
                .until(() -> slow.addresses("nfs1").equals(Set.of("10.0.0.5")));
    }
}
