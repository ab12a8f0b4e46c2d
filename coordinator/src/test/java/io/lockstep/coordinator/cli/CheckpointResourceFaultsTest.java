package io.lockstep.coordinator.cli;

import io.lockstep.coordinator.testing.EioFuse;
import io.lockstep.coordinator.testing.Invariants;
import io.lockstep.coordinator.testing.LocalCluster;
import io.lockstep.coordinator.testing.TestMounts;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.stream.Stream;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

/**
 * `coordinator checkpoint` running into the machine's limits: a store that is full or answers
 * with I/O errors, a task that cannot be frozen because it waits on a file server that never answers. Each aborts (exit 3)
 * with nothing committed, every host thawed, and an error that names what is at fault.
 * A test that hangs on a mount that stopped answering fails after a bound instead of holding the
 * suite; its teardown closes the mounts, which ends the hung call.
 */
@Timeout(value = 5, unit = TimeUnit.MINUTES, threadMode = Timeout.ThreadMode.SEPARATE_THREAD)
class CheckpointResourceFaultsTest {
    private final TestMounts mounts = new TestMounts();
    private LocalCluster cluster;

    @AfterEach
    void tearDown() throws Exception {
        try {
            mounts.close();
        } finally {
            if (cluster != null) {
                cluster.close();
            }
        }
    }

    private Path startTicker(String host) throws Exception {
        Path counter = cluster.dir().resolve("counter-" + host);
        int pid = cluster.run(host, "app", LocalCluster.worker("ready", "tick", counter.toString()));
        cluster.awaitReady(host, "app", pid);
        return counter;
    }

    /** `coordinator checkpoint` against this cluster's ZooKeeper root and store. */
    private CliRun checkpoint(String... options) {
        List<String> args = new ArrayList<>(List.of("checkpoint", "--group", "app", "--no-progress", "--zk",
                cluster.zkConnect(), "--zk-root", cluster.zkRoot(), "--store", cluster.dir().resolve("store").toString()));
        args.addAll(List.of(options));
        return CliRun.of(args.toArray(String[]::new));
    }

    private static void awaitTicking(Path counter) throws Exception {
        String before = Files.readString(counter);
        await("the ticker " + counter.getFileName() + " counts again").atMost(Duration.ofSeconds(20))
                .until(() -> !Files.readString(counter).equals(before));
    }

    @Test
    void aFullStoreAbortsTheCheckpointWithNothingCommittedAndNamesTheStorePath() throws Exception {
        cluster = LocalCluster.start("h1");
        Path store = mounts.fullTmpfs(cluster.dir().resolve("store"), 64 * 1024);
        assertThat(cluster.fileStore().root()).isEqualTo(store);
        Path counter = startTicker("h1");

        CliRun run = checkpoint();

        assertThat(run.exit()).as(run.toString()).isEqualTo(ExitCode.ABORTED.code());
        assertThat(run.err()).as(run.toString()).contains("manifest of host h1", store.toString(), "No space left on device");
        assertThat(Invariants.decisions(cluster, "app")).singleElement().matches(d -> !d.isCommit());
        assertThat(cluster.coordinator().zk().checkExists().forPath(cluster.layout().latest("app"))).isNull();
        try (Stream<Path> files = Files.walk(store)) {
            assertThat(files.filter(Files::isRegularFile).map(store::relativize).map(Path::toString))
                    .as("nothing but the filler left in the store").containsExactly(".filler");
        }
        Invariants.assertAll(cluster);
        awaitTicking(counter);
    }

    @Test
    void aStoreThatAnswersWithIoErrorsAbortsTheCheckpointAndNamesTheStorePath() throws Exception {
        cluster = LocalCluster.start("h1");
        Path store = java.nio.file.Files.createDirectories(cluster.dir().resolve("store"));
        Path counter = startTicker("h1");
        CliRun run;
        try (EioFuse broken = EioFuse.mount(store)) {
            run = checkpoint();
        }

        assertThat(run.exit()).as(run.toString()).isEqualTo(ExitCode.ABORTED.code());
        assertThat(run.err()).as(run.toString()).contains("cannot write manifest of host h1 to " + store,
                "Input/output error");
        assertThat(Invariants.decisions(cluster, "app")).singleElement().matches(d -> !d.isCommit());
        assertThat(cluster.coordinator().zk().checkExists().forPath(cluster.layout().latest("app"))).isNull();
        try (Stream<Path> files = Files.walk(store)) {
            assertThat(files.filter(Files::isRegularFile)).as("nothing in the store").isEmpty();
        }
        Invariants.assertAll(cluster);
        awaitTicking(counter);
    }

    @Test
    void aTaskStuckInAnUnansweredFuseRequestFailsTheFreezeThawsEveryHostAndIsNamed() throws Exception {
        cluster = LocalCluster.start("h1", "h2");
        Path counter1 = startTicker("h1");
        Path counter2 = startTicker("h2");
        Path fuse = mounts.unansweredFuse(cluster.dir().resolve("fuse"));
        int stuck = cluster.run("h2", "app", List.of("/bin/sh", "-c", "exec stat \"$0\"", fuse.resolve("file").toString()));
        await("stat blocks in the unanswered FUSE request").atMost(Duration.ofSeconds(20))
                .until(() -> "stat D".equals(commAndState(stuck)));
        CliRun run = checkpoint("--freeze-timeout", "2s");

        assertThat(run.exit()).as(run.toString()).isEqualTo(ExitCode.ABORTED.code());
        assertThat(run.err()).as(run.toString()).contains("Freeze on host h2 failed (deadline passed on the agent)",
                "pid " + stuck + " (stat) state D");
        assertThat(Invariants.decisions(cluster, "app")).singleElement().matches(d -> !d.isCommit());
        Invariants.assertAll(cluster);
        awaitTicking(counter1);
        awaitTicking(counter2);
        assertThat(commAndState(stuck)).as("still stuck: the failed freeze did not disturb it").isEqualTo("stat D");
    }

    /** "comm state" from /proc/PID/stat, e.g. "stat D"; empty once the process is gone. */
    private static String commAndState(int pid) {
        try {
            String stat = Files.readString(Path.of("/proc/" + pid + "/stat"));
            int close = stat.lastIndexOf(')');
            return stat.substring(stat.indexOf('(') + 1, close) + " " + stat.charAt(close + 2);
        } catch (java.io.IOException gone) {
            return "";
        }
    }
}
