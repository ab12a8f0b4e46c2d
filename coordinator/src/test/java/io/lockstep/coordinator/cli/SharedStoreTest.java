package io.lockstep.coordinator.cli;

import io.lockstep.coordinator.catalog.Catalog;
import io.lockstep.coordinator.store.FileCheckpointStore;
import io.lockstep.coordinator.store.StoreBinding;
import io.lockstep.coordinator.testing.Invariants;
import io.lockstep.coordinator.testing.LocalCluster;
import io.lockstep.proto.CatalogEntry;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

/**
 * One store per deployment (docs/DESIGN.md, "Store"): two `coordinator serve` processes with their
 * own state directories and one shared file: store survive the leader's SIGKILL with every
 * checkpoint restorable; a coordinator with another store refuses to start and names both; a
 * restore from another store is a read-only recovery that says so.
 */
@Timeout(value = 6, unit = TimeUnit.MINUTES, threadMode = Timeout.ThreadMode.SEPARATE_THREAD)
class SharedStoreTest {
    private static final Pattern COMMITTED = Pattern.compile("serve app: checkpoint (ckpt-[0-9A-Za-z-]+) .*committed");
    private final List<Process> coordinators = new ArrayList<>();
    private LocalCluster cluster;

    @AfterEach
    void tearDown() throws Exception {
        try {
            for (Process coordinator : coordinators) {
                coordinator.destroyForcibly();
                coordinator.waitFor(30, TimeUnit.SECONDS);
            }
        } finally {
            if (cluster != null) {
                cluster.close();
            }
        }
    }

    /** `coordinator serve` as a process of its own, with its own state directory. */
    private Process serve(String name, String store) throws Exception {
        Path stateDir = Files.createDirectories(cluster.dir().resolve("state-" + name));
        List<String> command = List.of(LocalCluster.javaBinary(), "-XX:TieredStopAtLevel=1", "-Xmx256m",
                "-cp", System.getProperty("java.class.path"), CoordinatorMain.class.getName(), "serve", "-v",
                "--group", "app", "--interval", "1s", "--keep", "10", "--zk", cluster.zkConnect(),
                "--zk-root", cluster.zkRoot(), "--state-dir", stateDir.toString(), "--store", store,
                // A killed leader's group lock and leadership pass on when its session expires.
                "--zk-session-timeout", "3s");
        Process process = new ProcessBuilder(command).redirectErrorStream(true)
                .redirectOutput(cluster.dir().resolve("serve-" + name + ".log").toFile()).start();
        coordinators.add(process);
        return process;
    }

    private String log(String name) throws Exception {
        Path log = cluster.dir().resolve("serve-" + name + ".log");
        return Files.exists(log) ? Files.readString(log) : "";
    }

    private List<String> committedBy(String name) throws Exception {
        List<String> ids = new ArrayList<>();
        Matcher matcher = COMMITTED.matcher(log(name));
        while (matcher.find()) {
            ids.add(matcher.group(1));
        }
        return ids;
    }

    private CliRun cli(String... args) {
        List<String> all = new ArrayList<>(List.of(args));
        all.addAll(List.of("--zk", cluster.zkConnect(), "--zk-root", cluster.zkRoot()));
        return CliRun.of(all.toArray(String[]::new));
    }

    private void startApplication() throws Exception {
        int pid = cluster.run("h1", "app", LocalCluster.worker("ready", "sleep"));
        cluster.awaitReady("h1", "app", pid);
    }

    @Test
    void afterTheLeaderIsKilledTheSurvivorRestoresACheckpointTheDeadLeaderTook() throws Exception {
        cluster = LocalCluster.start("h1");
        Path shared = cluster.dir().resolve("shared-store");
        cluster.useStore(new FileCheckpointStore(shared));
        startApplication();
        String storeUri = shared.toUri().toString();

        Process first = serve("a", storeUri);
        await("coordinator a leads and commits a checkpoint").atMost(Duration.ofSeconds(90))
                .until(() -> !committedBy("a").isEmpty());
        serve("b", shared.toString());
        await("coordinator b runs, waiting to take over").atMost(Duration.ofSeconds(60))
                .until(() -> log("b").contains("serving group app"));
        first.destroyForcibly();
        first.waitFor();
        List<String> takenByTheDeadLeader = committedBy("a");
        await("coordinator b took over and commits").atMost(Duration.ofSeconds(90))
                .until(() -> !committedBy("b").isEmpty());
        String deadLeaders = takenByTheDeadLeader.get(takenByTheDeadLeader.size() - 1);
        assertThat(new Catalog(cluster.coordinator()).list("app")).extracting(CatalogEntry::getCheckpointId)
                .as("retention on the survivor kept what the dead leader took").contains(deadLeaders);
        // The survivor stops as on SIGTERM, releasing the group between its ticks.
        for (Process coordinator : coordinators) {
            coordinator.destroy();
            assertThat(coordinator.waitFor(60, TimeUnit.SECONDS)).as("a serve process ends on SIGTERM").isTrue();
        }
        await("the group lock is free").atMost(Duration.ofSeconds(30))
                .until(() -> cluster.coordinator().zk().checkExists().forPath(cluster.layout().lock("app")) == null);

        cluster.killApplications();
        CliRun restore = cli("restore", "--group", "app", "--checkpoint", deadLeaders, "--no-progress", "--allow-root",
                "--store", storeUri, "--state-dir", cluster.dir().resolve("state-b").toString());

        assertThat(restore.exit()).as(restore.toString()).isEqualTo(ExitCode.OK.code());
        assertThat(restore.out()).contains(deadLeaders);
        assertThat(restore.err()).doesNotContain("read-only recovery");
        Invariants.assertAll(cluster);
    }

    @Test
    void aSecondCoordinatorWithAnotherStoreRefusesAtStartNamingBoth() throws Exception {
        cluster = LocalCluster.start("h1");
        Path deployment = cluster.dir().resolve("deployment-store");
        cluster.useStore(new FileCheckpointStore(deployment));
        startApplication();
        serve("a", deployment.toString());
        await("coordinator a commits a checkpoint").atMost(Duration.ofSeconds(90)).until(() -> !committedBy("a").isEmpty());
        Path other = cluster.dir().resolve("other-store");

        Process second = serve("b", other.toUri().toString());

        assertThat(second.waitFor(60, TimeUnit.SECONDS)).as("the second coordinator exits").isTrue();
        assertThat(second.exitValue()).as(log("b")).isEqualTo(ExitCode.USAGE.code());
        String recordedId = new StoreBinding(cluster.coordinator().zk(), cluster.layout()).recorded().orElseThrow().storeId();
        assertThat(log("b")).contains("this coordinator's store " + other.toUri(), "is not this deployment's store "
                + deployment.toUri(), "store id " + recordedId, cluster.zkRoot() + "/store");
        assertThat(log("b")).doesNotContain("serving group");
    }

    @Test
    void aRestoreFromAnotherStoreSaysItIsAReadOnlyRecoveryAndVerifiesEveryManifest() throws Exception {
        cluster = LocalCluster.start("h1", "h2");
        Path deployment = cluster.dir().resolve("deployment-store");
        cluster.useStore(new FileCheckpointStore(deployment));
        startApplication();
        int pid = cluster.run("h2", "app", LocalCluster.worker("ready", "sleep"));
        cluster.awaitReady("h2", "app", pid);
        CliRun checkpoint = cli("checkpoint", "--group", "app", "--no-progress", "--store", deployment.toString());
        assertThat(checkpoint.exit()).as(checkpoint.toString()).isEqualTo(ExitCode.OK.code());
        String id = new Catalog(cluster.coordinator()).latestId("app").orElseThrow();
        // A copy of the checkpoint's manifests elsewhere, e.g. a backup: another store.
        Path copy = Files.createDirectories(cluster.dir().resolve("backup-store").resolve("app").resolve(id));
        for (String host : List.of("h1", "h2")) {
            Files.copy(cluster.fileStore().manifestPath("app", id, host), copy.resolve(host + ".manifest"));
        }
        cluster.killApplications();

        CliRun restore = cli("restore", "--group", "app", "--no-progress", "--allow-root", "--store",
                cluster.dir().resolve("backup-store").toString());

        assertThat(restore.exit()).as(restore.toString()).isEqualTo(ExitCode.OK.code());
        assertThat(restore.err()).contains("read-only recovery from store " + cluster.dir().resolve("backup-store").toUri()
                        + " (no store id)", "not this deployment's store " + deployment.toUri(),
                "verified 2 manifest(s) of checkpoint " + id + " (h1, h2)");
        assertThat(cluster.dir().resolve("backup-store").resolve(".lockstep-store-id")).as("nothing written").doesNotExist();
        Invariants.assertAll(cluster);
    }

    @Test
    void aRecoveryFromAStoreWithADamagedManifestIsRefusedBeforeAnyAgentActs() throws Exception {
        cluster = LocalCluster.start("h1");
        Path deployment = cluster.dir().resolve("deployment-store");
        cluster.useStore(new FileCheckpointStore(deployment));
        startApplication();
        CliRun checkpoint = cli("checkpoint", "--group", "app", "--no-progress", "--store", deployment.toString());
        assertThat(checkpoint.exit()).as(checkpoint.toString()).isEqualTo(ExitCode.OK.code());
        String id = new Catalog(cluster.coordinator()).latestId("app").orElseThrow();
        Path copy = Files.createDirectories(cluster.dir().resolve("backup-store").resolve("app").resolve(id));
        byte[] damaged = Files.readAllBytes(cluster.fileStore().manifestPath("app", id, "h1"));
        damaged[damaged.length - 1] ^= 1;
        Files.write(copy.resolve("h1.manifest"), damaged);

        CliRun restore = cli("restore", "--group", "app", "--no-progress", "--allow-root", "--store",
                cluster.dir().resolve("backup-store").toString());

        assertThat(restore.exit()).as(restore.toString()).isEqualTo(ExitCode.CHECKPOINT_UNUSABLE.code());
        assertThat(restore.err()).contains("read-only recovery", copy.resolve("h1.manifest").toString(), "sha256");
        assertThat(cluster.coordinator().zk().getChildren().forPath(cluster.layout().ops("app")))
                .as("no restore operation started").noneMatch(op -> op.startsWith("restore"));
    }
}
