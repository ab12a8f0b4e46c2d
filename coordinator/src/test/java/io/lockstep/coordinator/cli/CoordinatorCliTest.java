package io.lockstep.coordinator.cli;

import com.google.protobuf.Struct;
import com.google.protobuf.Value;
import io.lockstep.coordinator.store.CheckpointStore;
import io.lockstep.coordinator.store.FileCheckpointStore;
import io.lockstep.coordinator.store.StoreBinding;
import io.lockstep.coordinator.testing.FakeAgent;
import io.lockstep.coordinator.testing.PrometheusText;
import io.lockstep.coordinator.testing.TestCheckpoints;
import io.lockstep.zk.testing.ZkTestRoot;
import io.lockstep.proto.CatalogEntry;
import io.lockstep.proto.HostRecord;
import io.lockstep.proto.LockHolder;
import io.lockstep.zk.Phase;
import io.lockstep.zk.ZkJson;
import org.apache.zookeeper.CreateMode;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;
import picocli.CommandLine;

import java.io.PrintWriter;
import java.io.StringWriter;
import java.io.Writer;
import java.net.ServerSocket;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

import static org.assertj.core.api.Assertions.assertThat;

class CoordinatorCliTest {

    @TempDir
    Path storeDir;

    @RegisterExtension
    final ZkTestRoot root = new ZkTestRoot();
    private FileCheckpointStore store;
    private TestCheckpoints checkpoints;

    @BeforeEach
    void setUp() throws Exception {
        store = new FileCheckpointStore(storeDir);
        checkpoints = new TestCheckpoints(root.zk(), root.layout(), store);
    }

    /** Runs a command against this test's ZooKeeper root and store. */
    private CliRun coordinator(String... args) {
        List<String> all = new ArrayList<>(List.of(args));
        all.addAll(List.of("--zk", root.connectString(), "--zk-root", root.layout().root(), "--store", storeDir.toString()));
        return CliRun.of(all.toArray(String[]::new));
    }

    @ParameterizedTest
    @ValueSource(strings = {"checkpoint", "restore", "serve", "list", "show", "status", "delete", "zookeeper", "zookeeper start",
            "zookeeper stop", "zookeeper status", "completion", "tls", "tls init"})
    void everyCommandExplainsItselfAndItsExitCodes(String command) {
        List<String> args = new ArrayList<>(List.of(command.split(" ")));
        args.add("--help");

        CliRun run = CliRun.of(args.toArray(String[]::new));

        assertThat(run.exit()).as(run.toString()).isZero();
        assertThat(run.out()).contains("Usage: coordinator " + command).contains("Exit codes:")
                .contains("11   checkpoint not found");
    }

    @Test
    void rootHelpListsTheCommandsAndVersionPrintsTheBuild() {
        CliRun help = CliRun.of("--help");
        assertThat(help.out()).contains("checkpoint", "restore", "serve", "list", "show", "status", "delete", "zookeeper",
                "completion");

        CliRun version = CliRun.of("--version");
        assertThat(version.exit()).isZero();
        assertThat(version.out()).startsWith("lockstep coordinator ").doesNotContain("${project.version}");
    }

    @Test
    void badArgumentsExitWithTwoAndSayWhatIsWrong() {
        assertUsage(CliRun.of(), "a command is required");
        assertUsage(CliRun.of("frobnicate"), "frobnicate");
        assertUsage(coordinator("list"), "--group");
        assertUsage(coordinator("checkpoint", "--group", "web", "--timeout", "soon"), "'soon' is not a duration");
        assertUsage(coordinator("delete", "--group", "web"), "either a checkpoint ID or --keep N");
        assertUsage(coordinator("delete", "--group", "web", "ckpt-000001", "--keep", "2"), "either a checkpoint ID or --keep N");
        assertUsage(coordinator("show", "latest"), "needs --group");
        assertUsage(coordinator("list", "--group", "../etc"), "group name '../etc' is not valid");
        assertUsage(CliRun.of("list", "--group", "web", "--zk", root.connectString(), "--zk-root", "no-slash"), "absolute path");
        assertUsage(coordinator("serve", "--group", "web"), "--interval");
        assertUsage(coordinator("serve", "--group", "web", "--interval", "1m", "--keep", "0"), "--keep must be at least 1");
        assertUsage(coordinator("serve", "--group", "web", "--interval", "1m", "--metrics-listen", "9464"),
                "--metrics-listen must be HOST:PORT, not '9464'");
        assertUsage(coordinator("serve", "--group", "web", "--interval", "1m", "--metrics-listen", "127.0.0.1:http"),
                "--metrics-listen must be HOST:PORT");
        assertUsage(coordinator("restore", "--group", "web", "--map", "host-a"), "--map 'host-a' is not of the form OLD=NEW");
        assertUsage(coordinator("restore", "--group", "web", "--path-map", "data=/srv"), "both sides must be absolute paths");
        assertUsage(coordinator("restore", "--group", "web", "--map", "a=../b"), "host name '../b' is not valid");
        assertUsage(coordinator("show"), "Missing required parameter: 'ID'");
        assertUsage(coordinator("checkpoint", "--gruop", "app2"), "lockstep: unknown option --gruop (did you mean --group?)");
        assertUsage(coordinator("restore", "--group", "app2", "--mapp", "a=b"), "unknown option --mapp (did you mean --map?)");
    }

    /**
     * {@code serve --metrics-listen}: while it runs, its endpoint counts the checkpoints it took. The
     * command's stdout stops at the first committed tick until the endpoint has been scraped.
     */
    @Test
    void serveExposesItsCheckpointsOnTheMetricsEndpoint() throws Exception {
        try (FakeAgent a = new FakeAgent("host-a", root.connectString(), root.layout(), "web");
             FakeAgent b = new FakeAgent("host-b", root.connectString(), root.layout(), "web")) {
            CountDownLatch ticked = new CountDownLatch(1);
            CountDownLatch scraped = new CountDownLatch(1);
            StringBuffer out = new StringBuffer();
            Writer pausingAtTick = new Writer() {
                @Override
                public void write(char[] text, int offset, int length) {
                    out.append(text, offset, length);
                    if (out.indexOf("tick: committed") >= 0 && ticked.getCount() > 0) {
                        ticked.countDown();
                        try {
                            scraped.await(120, TimeUnit.SECONDS);
                        } catch (InterruptedException e) {
                            Thread.currentThread().interrupt();
                        }
                    }
                }

                @Override
                public void flush() {
                }

                @Override
                public void close() {
                }
            };
            CommandLine serve = CoordinatorMain.commandLine();
            serve.setOut(new PrintWriter(pausingAtTick, true));
            StringWriter err = new StringWriter();
            serve.setErr(new PrintWriter(err, true));
            CompletableFuture<Integer> exit = CompletableFuture.supplyAsync(() -> serve.execute("serve", "--group", "web",
                    "--interval", "2s", "--ticks", "2", "--metrics-listen", "127.0.0.1:0", "--zk", root.connectString(),
                    "--zk-root", root.layout().root(), "--store", storeDir.toString()));
            try {
                assertThat(ticked.await(120, TimeUnit.SECONDS)).as("serve ticked: %s %s", out, err).isTrue();
                Matcher port = Pattern.compile("metrics at http://127\\.0\\.0\\.1:(\\d+)/metrics").matcher(out);
                assertThat(port.find()).as(out.toString()).isTrue();
                PrometheusText metrics = PrometheusText.scrape(Integer.parseInt(port.group(1)));
                assertThat(metrics.value("lockstep_operations_total", "kind", "checkpoint", "outcome", "committed")).isEqualTo(1);
                assertThat(metrics.value("lockstep_phase_seconds_count", "kind", "checkpoint", "phase", "capture")).isEqualTo(1);
                assertThat(metrics.value("lockstep_checkpoint_locks_sum")).isEqualTo(2);
            } finally {
                scraped.countDown();
            }
            assertThat(exit.get(120, TimeUnit.SECONDS)).as("%s %s", out, err).isZero();
            assertThat(out.toString()).contains("tick: committed");
            assertThat(coordinator("list", "--group", "web").out()).contains("(latest)");
        }
    }

    private static void assertUsage(CliRun run, String message) {
        assertThat(run.exit()).as(run.toString()).isEqualTo(ExitCode.USAGE.code());
        assertThat(run.err()).as(run.toString()).startsWith("lockstep: ").contains(message).doesNotContain("Usage:");
    }

    @Test
    void unreachableZooKeeperExitsWithFiveQuickly() throws Exception {
        int closedPort;
        try (ServerSocket probe = new ServerSocket(0)) {
            closedPort = probe.getLocalPort();
        }
        long start = System.nanoTime();

        CliRun run = CliRun.of("list", "--group", "web", "--zk", "127.0.0.1:" + closedPort, "--zk-connect-timeout", "300ms",
                "--store", storeDir.toString());

        assertThat(run.exit()).as(run.toString()).isEqualTo(ExitCode.ZK_UNAVAILABLE.code());
        assertThat(run.err().strip()).startsWith("lockstep: ZooKeeper at 127.0.0.1:" + closedPort).doesNotContain("\n");
        assertThat((System.nanoTime() - start) / 1_000_000).isLessThan(5_000);
    }

    @Test
    void checkpointOfAGroupWithoutAgentsExitsWithFour() throws Exception {
        checkpoints.commit("web", "ckpt-000001", 1, "a");

        CliRun run = coordinator("checkpoint", "--group", "web");

        assertThat(run.exit()).as(run.toString()).isEqualTo(ExitCode.NO_AGENTS.code());
        assertThat(run.err()).contains("group web has no processes on any live agent",
                "the latest checkpoint is ckpt-000001: `coordinator restore --group web --checkpoint ckpt-000001`");
    }

    @Test
    void anUnknownGroupIsNamedWithTheKnownOnesExitsWithFourAndLeavesNothingInZooKeeper() throws Exception {
        checkpoints.commit("app", "ckpt-000001", 1, "a");
        checkpoints.commit("app2", "ckpt-000002", 2, "a");

        for (List<String> command : List.of(List.of("checkpoint", "--group", "ap2"), List.of("delete", "--group", "ap2",
                "--keep", "1"), List.of("delete", "--group", "ap2", "ckpt-000002"), List.of("restore", "--group", "ap2"),
                List.of("show", "latest", "--group", "ap2"), List.of("list", "--group", "ap2"))) {
            CliRun run = coordinator(command.toArray(String[]::new));

            assertThat(run.exit()).as(run.toString()).isEqualTo(ExitCode.NO_AGENTS.code());
            assertThat(run.err().strip()).as(command.toString()).isEqualTo("lockstep: no group ap2; known: app, app2");
        }
        assertThat(root.zk().checkExists().forPath(root.layout().group("ap2"))).isNull();
        assertThat(coordinator("status").out()).contains("groups: 2").doesNotContain("ap2");
    }

    @Test
    void busyGroupExitsWithSixAndNamesTheHolder() throws Exception {
        checkpoints.commit("web", "ckpt-000001", 1, "a");
        root.zk().create().creatingParentContainersIfNeeded().withMode(CreateMode.EPHEMERAL)
                .forPath(root.layout().lock("web"), ZkJson.toBytes(LockHolder.newBuilder().setOpId("restore-000002")
                        .setCoordinatorId("coord-b").setHostname("ops-host").setPid(77).build()));

        CliRun checkpoint = coordinator("checkpoint", "--group", "web");
        CliRun delete = coordinator("delete", "--group", "web", "--keep", "0");

        assertThat(checkpoint.exit()).as(checkpoint.toString()).isEqualTo(ExitCode.GROUP_BUSY.code());
        assertThat(checkpoint.err()).contains("group web is busy", "restore-000002", "coord-b", "ops-host");
        assertThat(delete.exit()).as(delete.toString()).isEqualTo(ExitCode.GROUP_BUSY.code());
    }

    @Test
    void unknownCheckpointExitsWithElevenAndListsTheKnownOnes() throws Exception {
        checkpoints.commit("web", "ckpt-000001", 1, "a");

        CliRun inGroup = coordinator("show", "ckpt-000042", "--group", "web");
        CliRun anywhere = coordinator("show", "ckpt-000042");
        CliRun delete = coordinator("delete", "--group", "web", "ckpt-000042");

        assertThat(inGroup.exit()).as(inGroup.toString()).isEqualTo(ExitCode.CHECKPOINT_UNUSABLE.code());
        assertThat(inGroup.err()).contains("checkpoint ckpt-000042 does not exist in group web; known: ckpt-000001");
        assertThat(anywhere.exit()).isEqualTo(ExitCode.CHECKPOINT_UNUSABLE.code());
        assertThat(anywhere.err()).contains("does not exist in any group");
        assertThat(delete.exit()).isEqualTo(ExitCode.CHECKPOINT_UNUSABLE.code());
    }

    @Test
    void listPrintsATableAndJson() throws Exception {
        checkpoints.commit("web", "ckpt-000001", 1, "a");
        checkpoints.commit("web", "ckpt-000002", 2, "a", "b");

        CliRun table = coordinator("list", "--group", "web");
        CliRun json = coordinator("list", "--group", "web", "--json");
        CliRun unknown = coordinator("list", "--group", "wbe");
        CliRun unknownJson = coordinator("list", "--group", "wbe", "--json");

        assertThat(table.exit()).as(table.toString()).isZero();
        assertThat(table.out()).contains("ID", "EPOCH", "ckpt-000001").containsPattern("ckpt-000002 .*\\(latest\\)");
        Struct parsed = json.json();
        assertThat(parsed.getFieldsOrThrow("latestId").getStringValue()).isEqualTo("ckpt-000002");
        assertThat(parsed.getFieldsOrThrow("checkpoints").getListValue().getValuesList())
                .extracting(v -> v.getStructValue().getFieldsOrThrow("checkpointId").getStringValue())
                .containsExactly("ckpt-000001", "ckpt-000002");
        assertThat(unknown.exit()).isEqualTo(ExitCode.NO_AGENTS.code());
        assertThat(unknown.err().strip()).isEqualTo("lockstep: no group wbe; known: web");
        assertThat(unknownJson.exit()).isEqualTo(ExitCode.NO_AGENTS.code());
        Struct error = unknownJson.json().getFieldsOrThrow("error").getStructValue();
        assertThat(error.getFieldsOrThrow("code").getNumberValue()).isEqualTo(4);
        assertThat(error.getFieldsOrThrow("reason").getStringValue()).isEqualTo("UNKNOWN_GROUP");
        assertThat(error.getFieldsOrThrow("message").getStringValue()).isEqualTo("no group wbe; known: web");
        assertThat(root.zk().checkExists().forPath(root.layout().group("wbe"))).as("nothing left in ZooKeeper").isNull();
    }

    @Test
    void showPrintsEveryHostsProcessesFilesAndLocks() throws Exception {
        checkpoints.commit("web", "ckpt-000003", 3, "host-a", "host-b");

        CliRun text = coordinator("show", "ckpt-000003");
        CliRun latest = coordinator("show", "latest", "--group", "web");
        CliRun json = coordinator("show", "ckpt-000003", "--json");

        assertThat(text.exit()).as(text.toString()).isZero();
        assertThat(text.out()).contains("checkpoint ckpt-000003 of group web", "== host host-a", "== host host-b",
                "fd 3 regular /mnt/filer/app/web.db", "filer:/export app/web.db", "holds POSIX WRITE [0, EOF]");
        assertThat(latest.out()).isEqualTo(text.out());
        Struct parsed = json.json();
        assertThat(parsed.getFieldsOrThrow("checkpoint").getStructValue().getFieldsOrThrow("checkpointId").getStringValue())
                .isEqualTo("ckpt-000003");
        assertThat(parsed.getFieldsOrThrow("manifests").getStructValue().getFieldsMap()).containsOnlyKeys("host-a", "host-b");
    }

    @Test
    void showOfACorruptManifestNamesTheHostAndTheFile() throws Exception {
        checkpoints.commit("web", "ckpt-000004", 4, "host-a", "host-b");
        Path damaged = store.manifestPath("web", "ckpt-000004", "host-b");
        byte[] bytes = Files.readAllBytes(damaged);
        bytes[bytes.length - 1] ^= 0x5a;
        Files.write(damaged, bytes);

        CliRun run = coordinator("show", "ckpt-000004");

        assertThat(run.exit()).as(run.toString()).isEqualTo(ExitCode.CHECKPOINT_UNUSABLE.code());
        assertThat(run.err().strip()).contains(damaged.toString(), "sha256").doesNotContain("\n");
        assertThat(run.out()).isEmpty();
    }

    @Test
    void showOfAMissingManifestSaysItIsMissing() throws Exception {
        checkpoints.commit("web", "ckpt-000005", 5, "host-a");
        Files.delete(store.manifestPath("web", "ckpt-000005", "host-a"));

        CliRun run = coordinator("show", "ckpt-000005", "--group", "web");

        assertThat(run.exit()).as(run.toString()).isEqualTo(ExitCode.CHECKPOINT_UNUSABLE.code());
        assertThat(run.err()).contains("manifest of host host-a for checkpoint ckpt-000005 is missing from the store");
    }

    @Test
    void aStoreThatCannotBeReachedToCheckItAgainstTheDeploymentsIsNamedAndNothingStarts() throws Exception {
        new StoreBinding(root.zk(), root.layout()).bind(store);

        CliRun run = CliRun.of("checkpoint", "--group", "web", "--no-progress", "--zk", root.connectString(), "--zk-root",
                root.layout().root(), "--store", "s3://unreachable/deploy", "--store-endpoint", "http://127.0.0.1:1");

        assertThat(run.exit()).as(run.toString()).isEqualTo(ExitCode.ABORTED.code());
        assertThat(run.err()).contains("cannot check store s3://unreachable/deploy against this deployment's store "
                + store.uri());
        assertThat(root.zk().checkExists().forPath(root.layout().ops("web"))).as("no operation started").isNull();
    }

    @Test
    void showOfAManifestThatIsNotOneSaysSo() throws Exception {
        CatalogEntry entry = checkpoints.commit("web", "ckpt-000006", 6, "host-a");
        // Intact as a file (the catalog digest matches), but not a manifest inside. A store never
        // overwrites, so the real manifest goes first.
        Files.delete(store.manifestPath("web", "ckpt-000006", "host-a"));
        CheckpointStore.StoredManifest garbage = store.write("web", "ckpt-000006", "host-a", "not a manifest".getBytes());
        root.zk().setData().forPath(root.layout().checkpoint("web", "ckpt-000006"), ZkJson.toBytes(entry.toBuilder()
                .setManifests(0, entry.getManifests(0).toBuilder().setSha256(garbage.sha256()).setSize(garbage.size()))
                .build()));

        CliRun run = coordinator("show", "ckpt-000006", "--group", "web");

        assertThat(run.exit()).as(run.toString()).isEqualTo(ExitCode.CHECKPOINT_UNUSABLE.code());
        assertThat(run.err()).contains("manifest of host host-a", garbage.uri(), "is unreadable");
    }

    @Test
    void statusShowsHostsGroupsAndTheRunningOperationsPhase() throws Exception {
        try (FakeAgent a = new FakeAgent("host-a", root.connectString(), root.layout(), "web");
             FakeAgent b = new FakeAgent("host-b", root.connectString(), root.layout(), "web")) {
            checkpoints.commit("web", "ckpt-000001", 1, "host-a", "host-b");
            checkpoints.running("web", "ckpt-000002", 2, "host-a");
            root.zk().create().creatingParentsIfNeeded().withMode(CreateMode.EPHEMERAL)
                    .forPath(root.layout().phaseEntry("web", "ckpt-000002", Phase.FROZEN, "host-a"));

            CliRun text = coordinator("status");
            CliRun json = coordinator("status", "--json");

            assertThat(text.exit()).as(text.toString()).isZero();
            assertThat(text.out()).contains("hosts: 2 alive", "host-a", "version test",
                    "web  members: host-a (live), host-b (live)  latest: ckpt-000001", "op ckpt-000002 (checkpoint, epoch 2) frozen 1/1 hosts");
            Struct parsed = json.json();
            assertThat(parsed.getFieldsOrThrow("hosts").getListValue().getValuesCount()).isEqualTo(2);
            Struct web = parsed.getFieldsOrThrow("groups").getListValue().getValues(0).getStructValue();
            Value running = web.getFieldsOrThrow("operations").getListValue().getValues(0);
            assertThat(running.getStructValue().getFieldsOrThrow("phase").getStringValue()).isEqualTo("frozen");
        }
    }

    @Test
    void deleteRemovesOneCheckpointOrAppliesRetention() throws Exception {
        for (int epoch = 1; epoch <= 4; epoch++) {
            checkpoints.commit("web", "ckpt-00000" + epoch, epoch, "a");
        }

        CliRun one = coordinator("delete", "--group", "web", "ckpt-000004");
        CliRun keep = coordinator("delete", "--group", "web", "--keep", "1");

        assertThat(one.exit()).as(one.toString()).isZero();
        assertThat(one.out()).contains("deleted checkpoint ckpt-000004 of group web; latest is now ckpt-000003");
        assertThat(keep.exit()).as(keep.toString()).isZero();
        assertThat(keep.out()).contains("deleted ckpt-000001, ckpt-000002", "latest is ckpt-000003");
        assertThat(coordinator("list", "--group", "web").out()).contains("ckpt-000003").doesNotContain("ckpt-000002");
    }

    @Test
    void checkpointRunsThroughAllPhasesWithRealAgentsEndpoints() throws Exception {
        try (FakeAgent a = new FakeAgent("host-a", root.connectString(), root.layout(), "web");
             FakeAgent b = new FakeAgent("host-b", root.connectString(), root.layout(), "web")) {
            CliRun text = coordinator("checkpoint", "--group", "web", "--timeout", "20s");
            CliRun json = coordinator("checkpoint", "--group", "web", "--json", "--no-progress");

            assertThat(text.exit()).as(text.toString()).isZero();
            assertThat(text.out()).containsPattern("checkpoint ckpt-\\d{8}T\\d{6}Z-000001-[0-9a-f]{6} of group web committed \\(epoch 1\\)")
                    .contains("hosts      2: host-a, host-b", "processes  2", "locks      2", "phases     hooks ", ", freeze ", ", capture ");
            // Off a terminal the progress is one plain line per event, on stderr.
            assertThat(text.err()).contains("freeze: started on 2 hosts", "capture: host-b", "thaw: done in");
            assertThat(json.exit()).as(json.toString()).isZero();
            assertThat(json.err()).isEmpty();
            assertThat(json.json().getFieldsOrThrow("checkpointId").getStringValue()).matches("ckpt-\\d{8}T\\d{6}Z-000002-[0-9a-f]{6}");
            assertThat(coordinator("show", "latest", "--group", "web").out()).contains("== host host-b");
            // The frozen window is known only after the thaw; the catalog entry has it too.
            assertThat(coordinator("list", "--group", "web").out()).containsPattern("ckpt-\\S+-000001-\\S+ .* [1-9]\\d* ms");
        }
    }

    @Test
    void anAgentThatDoesNotAnswerAbortsTheCheckpointWithTenAndIsNamed() throws Exception {
        int closedPort;
        try (ServerSocket probe = new ServerSocket(0)) {
            closedPort = probe.getLocalPort();
        }
        try (FakeAgent a = new FakeAgent("host-a", root.connectString(), root.layout(), "web")) {
            root.zk().create().creatingParentContainersIfNeeded().withMode(CreateMode.EPHEMERAL).forPath(
                    root.layout().host("host-dead"), ZkJson.toBytes(HostRecord.newBuilder().setHostId("host-dead")
                            .setEndpoint("127.0.0.1:" + closedPort).build()));
            root.zk().create().withMode(CreateMode.EPHEMERAL).forPath(root.layout().member("web", "host-dead"));

            CliRun run = coordinator("checkpoint", "--group", "web", "--timeout", "10s", "--no-progress");

            assertThat(run.exit()).as(run.toString()).isEqualTo(ExitCode.AGENT_UNAVAILABLE.code());
            assertThat(run.err().strip()).startsWith("lockstep: RunHooks on host host-dead failed (agent unreachable)")
                    .doesNotContain("\n");
            assertThat(coordinator("list", "--group", "web").out()).contains("group web has no checkpoints");
            assertThat(store.checkpointIds("web")).as("checkpoint directories of group web in the store").isEmpty();
        }
    }

    @Test
    void completionPrintsABashScript() {
        CliRun run = CliRun.of("completion");

        assertThat(run.exit()).isZero();
        assertThat(run.out()).contains("complete -F", "checkpoint", "--freeze-timeout");
    }
}
