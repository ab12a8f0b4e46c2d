package io.lockstep.coordinator.checkpoint;

import io.lockstep.coordinator.op.CheckpointResult;
import io.lockstep.coordinator.op.FailureReason;
import io.lockstep.coordinator.op.OperationFailedException;
import io.lockstep.coordinator.op.OperationListener;
import io.lockstep.coordinator.op.RestoreResult;
import io.lockstep.coordinator.restore.RestoreOperation;
import io.lockstep.coordinator.restore.RestoreOptions;
import io.lockstep.coordinator.testing.Invariants;
import io.lockstep.coordinator.testing.LocalCluster;
import io.lockstep.manifest.ManifestCodec;
import io.lockstep.proto.AdoptReply;
import io.lockstep.proto.AdoptRequest;
import io.lockstep.proto.CatalogManifest;
import io.lockstep.proto.DataPathRecord;
import io.lockstep.proto.Hook;
import io.lockstep.proto.Manifest;
import io.lockstep.proto.ProcessRecord;
import io.lockstep.proto.RunRequest;
import io.lockstep.proto.SnapshotFileRecord;
import io.lockstep.proto.SnapshotRecord;
import io.lockstep.proto.StagedProcess;
import io.lockstep.zk.DataPaths;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.MessageDigest;
import java.time.Duration;
import java.util.HexFormat;
import java.util.List;
import java.util.concurrent.atomic.AtomicReference;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.awaitility.Awaitility.await;

/**
 * Application hooks around the cut (docs/DESIGN.md, "Application hooks"), with real agents, real
 * programs and their real hook commands and signals, real ZooKeeper: before any host freezes, after the thaw.
 */
class ApplicationHooksTest {
    private static final List<String> SLEEPER = List.of("/bin/sleep", "600");
    private static final int NOBODY = 65534;
    private LocalCluster cluster;

    @AfterEach
    void tearDown() throws Exception {
        if (cluster != null) {
            cluster.close();
        }
    }

    /** A shell line appending what the hook was told to {@code events}: "KIND ID OUTCOME pid=PID group=GROUP". */
    private static String logEvent(Path events) {
        return "echo \"$LOCKSTEP_HOOK $LOCKSTEP_CHECKPOINT ${LOCKSTEP_OUTCOME:--} pid=$LOCKSTEP_PID group=$LOCKSTEP_GROUP\" >> "
                + events;
    }

    private int run(String host, List<String> argv, Hook hook) throws Exception {
        return cluster.run(host, RunRequest.newBuilder().setGroup("app").setCwd(cluster.dir().toString())
                .putAllEnv(System.getenv()).addAllArgv(argv).setHook(hook).build());
    }

    private CheckpointResult checkpoint(OperationListener listener) throws Exception {
        return new CheckpointOperation(cluster.coordinator(), CheckpointOptions.defaults(), listener).run("app");
    }

    private Manifest manifest(CheckpointResult checkpoint, String host) throws Exception {
        CatalogManifest stored = checkpoint.catalogEntry().getManifestsList().stream()
                .filter(m -> m.getHostId().equals(host)).findFirst().orElseThrow();
        return ManifestCodec.decode(cluster.coordinator().store().readVerified("app", checkpoint.checkpointId(),
                host, stored.getSha256(), stored.getSize()));
    }

    private static String events(Path events) throws Exception {
        return Files.exists(events) ? Files.readString(events) : "";
    }

    @Test
    void aHookCommandWritesTheProgramsStateBeforeAnyHostFreezesItsFileIsInTheCheckpointAndItHearsCommit() throws Exception {
        cluster = LocalCluster.start("h1", "h2");
        Path data = Files.createDirectories(cluster.dir().resolve("data"));
        Path state = data.resolve("state");
        Path events = cluster.dir().resolve("events");
        new DataPaths(cluster.coordinator().zk(), cluster.layout()).put("app",
                DataPathRecord.newBuilder().setPath(data.toString()).setEngine("copy").build());
        String command = "echo \"$LOCKSTEP_CHECKPOINT\" > " + state + "; " + logEvent(events);
        int p1 = run("h1", SLEEPER, Hook.newBuilder().setCommand(command).build());
        cluster.runSleepers("app", "h2");
        assertThat(cluster.coordinator().directory().host("h1").orElseThrow().getHookedGroupsList())
                .as("h1's registration, once its run with a hook answered").containsExactly("app");
        assertThat(cluster.coordinator().directory().host("h2").orElseThrow().getHookedGroupsList()).isEmpty();
        AtomicReference<String> stateWhenHooksEnded = new AtomicReference<>();
        AtomicReference<List<String>> frozenWhenHooksEnded = new AtomicReference<>();
        OperationListener watchHooks = new OperationListener() {
            @Override
            public void phaseEnded(String phase, long micros) {
                if (phase.equals("hooks")) {
                    try {
                        stateWhenHooksEnded.set(Files.exists(state) ? Files.readString(state) : "absent");
                        frozenWhenHooksEnded.set(Invariants.frozenGroups(cluster));
                    } catch (Exception e) {
                        throw new IllegalStateException(e);
                    }
                }
            }
        };

        CheckpointResult result = checkpoint(watchHooks);

        String id = result.checkpointId();
        assertThat(stateWhenHooksEnded.get()).as("the state file once the hooks round ended").isEqualTo(id + "\n");
        assertThat(frozenWhenHooksEnded.get()).as("groups frozen once the hooks round ended").isEmpty();
        assertThat(result.phaseMicros().keySet()).startsWith("hooks");
        Manifest h1 = manifest(result, "h1");
        SnapshotRecord snapshot = h1.getSnapshotsList().stream().filter(s -> s.getDataPath().equals(data.toString()))
                .findFirst().orElseThrow();
        assertThat(snapshot.getFilesList()).extracting(SnapshotFileRecord::getRelativePath, SnapshotFileRecord::getSha256)
                .contains(org.assertj.core.groups.Tuple.tuple("state", sha256(id + "\n")));
        ProcessRecord program = h1.getProcessesList().stream().filter(p -> p.getPid() == p1).findFirst().orElseThrow();
        assertThat(program.getRestart().getHook().getCommand()).as("the hook travels in the manifest").isEqualTo(command);
        await("the post-thaw notification of " + id).atMost(Duration.ofSeconds(20))
                .until(() -> events(events).contains("post-thaw " + id + " COMMIT pid=" + p1 + " group=app"));
        assertThat(events(events).lines().toList()).containsExactly("pre-freeze " + id + " - pid=" + p1 + " group=app",
                "post-thaw " + id + " COMMIT pid=" + p1 + " group=app");
        Invariants.assertAll(cluster);
    }

    @Test
    void aHookCommandRunsAsTheProgramsUserAndGroupInItsWorkingDirectory() throws Exception {
        cluster = LocalCluster.start("h1");
        // The program's own directory, open to its user (the cluster's directory is root's alone).
        Path home = Files.createTempDirectory("lockstep-hook-home-");
        try {
            Files.setPosixFilePermissions(home, java.nio.file.attribute.PosixFilePermissions.fromString("rwxrwxrwx"));
            cluster.run("h1", RunRequest.newBuilder().setGroup("app").setCwd(home.toString()).setUid(NOBODY).setGid(NOBODY)
                    .putEnv("PATH", "/usr/bin:/bin").addAllArgv(SLEEPER)
                    .setHook(Hook.newBuilder().setCommand("if [ \"$LOCKSTEP_HOOK\" = pre-freeze ]; then "
                            + "echo \"$(id -u):$(id -g) $(pwd)\" > who; fi")).build());

            checkpoint(OperationListener.SILENT);

            assertThat(Files.readString(home.resolve("who"))).isEqualTo(NOBODY + ":" + NOBODY + " " + home + "\n");
            assertThat(Files.getAttribute(home.resolve("who"), "unix:uid")).isEqualTo(NOBODY);
        } finally {
            cluster.killApplications();
            try (var files = Files.walk(home)) {
                files.sorted(java.util.Comparator.reverseOrder()).forEach(path -> path.toFile().delete());
            }
        }
    }

    @Test
    void aHookThatTimesOutAbortsTheCheckpointNamingTheProgramWithNothingFrozenAndTheOthersHearAbort() throws Exception {
        cluster = LocalCluster.start("h1", "h2");
        Path events = cluster.dir().resolve("events");
        int p1 = run("h1", SLEEPER, Hook.newBuilder().setCommand(logEvent(events)).build());
        // A marker no other process has: the hung hook must not outlive its checkpoint.
        String hung = "sleep 37.125";
        int p2 = run("h2", SLEEPER, Hook.newBuilder().setCommand(hung).setTimeoutMs(300).build());
        AtomicReference<String> opId = new AtomicReference<>();
        OperationListener opened = new OperationListener() {
            @Override
            public void opened(String kind, String group, String op, long epoch) {
                opId.set(op);
            }
        };

        assertThatThrownBy(() -> checkpoint(opened)).isInstanceOfSatisfying(OperationFailedException.class, e -> {
            assertThat(e.reason()).isEqualTo(FailureReason.HOOK_FAILED);
            assertThat(e.getMessage()).contains("host h2", "pid " + p2 + " (/bin/sleep)", "timed out after 300 ms",
                    "`" + hung + "`", "before any host froze");
        });

        String id = opId.get();
        assertThat(Invariants.decisions(cluster, "app")).singleElement().satisfies(d -> assertThat(d.isCommit()).isFalse());
        assertThat(cluster.coordinator().zk().checkExists().forPath(cluster.layout().checkpoint("app", id))).isNull();
        await("the post-thaw ABORT notification on h1").atMost(Duration.ofSeconds(20))
                .until(() -> events(events).contains("post-thaw " + id + " ABORT pid=" + p1));
        assertThat(events(events).lines().toList()).containsExactly("pre-freeze " + id + " - pid=" + p1 + " group=app",
                "post-thaw " + id + " ABORT pid=" + p1 + " group=app");
        await("the timed-out hook is killed").atMost(Duration.ofSeconds(10)).until(() -> ProcessHandle.allProcesses()
                .noneMatch(p -> p.info().commandLine().orElse("").endsWith(hung)));
        Invariants.assertAll(cluster);
    }

    @Test
    void aSignalHookAcknowledgedInTimeLetsTheCheckpointCommitAndOneNeverAcknowledgedAbortsIt() throws Exception {
        cluster = LocalCluster.start("h1", "h2");
        Path events = cluster.dir().resolve("events");
        // The program's own handler: read the request, log it, acknowledge a pre-freeze request.
        String handler = ". \"$LOCKSTEP_HOOK_REQUEST\"; echo \"$LOCKSTEP_HOOK $LOCKSTEP_CHECKPOINT ${LOCKSTEP_OUTCOME:--}\" >> "
                + events + "; if [ \"$LOCKSTEP_HOOK\" = pre-freeze ]; then echo \"$LOCKSTEP_CHECKPOINT\" > \"$LOCKSTEP_HOOK_ACK\"; fi";
        int answering = run("h1", List.of("/bin/bash", "-c", "trap '" + handler + "' USR1; echo READY; "
                + "while :; do sleep 0.05; done"), Hook.newBuilder().setSignal(10).build());
        cluster.awaitReady("h1", "app", answering);
        cluster.runSleepers("app", "h2");

        String first = checkpoint(OperationListener.SILENT).checkpointId();

        assertThat(events(events)).startsWith("pre-freeze " + first + " -\n");
        await("the post-thaw signal of " + first).atMost(Duration.ofSeconds(20))
                .until(() -> events(events).contains("post-thaw " + first + " COMMIT"));

        int silent = run("h2", List.of("/bin/bash", "-c", "trap ':' USR2; echo READY; while :; do sleep 0.05; done"),
                Hook.newBuilder().setSignal(12).setTimeoutMs(300).build());
        cluster.awaitReady("h2", "app", silent);
        AtomicReference<String> opId = new AtomicReference<>();
        assertThatThrownBy(() -> checkpoint(new OperationListener() {
            @Override
            public void opened(String kind, String group, String op, long epoch) {
                opId.set(op);
            }
        })).isInstanceOfSatisfying(OperationFailedException.class, e -> {
            assertThat(e.reason()).isEqualTo(FailureReason.HOOK_FAILED);
            assertThat(e.getMessage()).contains("host h2", "pid " + silent + " (/bin/bash)",
                    "did not acknowledge SIGUSR2 within 300 ms", "LOCKSTEP_HOOK_ACK");
        });
        await("the post-thaw ABORT signal of " + opId.get()).atMost(Duration.ofSeconds(20))
                .until(() -> events(events).contains("post-thaw " + opId.get() + " ABORT"));
        Invariants.assertAll(cluster);
    }

    @Test
    void anAdoptedProgramGetsItsSignalHookAsAStartedOneDoesOnceToldWhereItsFilesAre() throws Exception {
        cluster = LocalCluster.start("h1");
        Path events = cluster.dir().resolve("events");
        Path told = cluster.dir().resolve("hook-files");
        // A program started outside Lockstep has no LOCKSTEP_HOOK_* variables: `agent adopt` prints the files'
        // names, and the operator tells the program (here: a file its handler reads).
        String handler = ". " + told + "; . \"$LOCKSTEP_HOOK_REQUEST\"; echo \"$LOCKSTEP_HOOK $LOCKSTEP_CHECKPOINT"
                + " ${LOCKSTEP_OUTCOME:--}\" >> " + events + "; if [ \"$LOCKSTEP_HOOK\" = pre-freeze ]; then"
                + " echo \"$LOCKSTEP_CHECKPOINT\" > \"$LOCKSTEP_HOOK_ACK\"; fi";
        Process program = new ProcessBuilder("/bin/bash", "-c", "trap '" + handler + "' USR1; while :; do sleep 0.05; done")
                .start();
        try {
            int pid = (int) program.pid();
            AdoptReply reply = cluster.adopt("h1", AdoptRequest.newBuilder().setGroup("app").setPid(pid)
                    .setHook(Hook.newBuilder().setSignal(10).setTimeoutMs(5000)).build());
            assertThat(reply.getHookRequest()).as("the request file adopt names").endsWith("/request");
            Files.writeString(told, "LOCKSTEP_HOOK_REQUEST=" + reply.getHookRequest() + "\nLOCKSTEP_HOOK_ACK="
                    + reply.getHookAck() + "\n");

            CheckpointResult result = checkpoint(OperationListener.SILENT);

            String id = result.checkpointId();
            assertThat(events(events)).startsWith("pre-freeze " + id + " -\n");
            await("the post-thaw signal of " + id + " to the adopted pid " + pid).atMost(Duration.ofSeconds(20))
                    .until(() -> events(events).contains("post-thaw " + id + " COMMIT"));
            ProcessRecord adopted = manifest(result, "h1").getProcessesList().stream().filter(p -> p.getPid() == pid)
                    .findFirst().orElseThrow();
            assertThat(adopted.getRestart().getHook().getSignal()).as("the hook travels in the manifest").isEqualTo(10);
            assertThat(adopted.getRestart().getEnvMap()).as("a restored program finds its files in its environment")
                    .containsEntry("LOCKSTEP_HOOK_REQUEST", reply.getHookRequest())
                    .containsEntry("LOCKSTEP_HOOK_ACK", reply.getHookAck());
            Invariants.assertAll(cluster);
        } finally {
            program.destroyForcibly();
        }
    }

    @Test
    void hooksSurviveAnAgentRestartAndARestoreAndTheRestoredProgramFindsTheCheckpointId() throws Exception {
        cluster = LocalCluster.start("h1");
        Path events = cluster.dir().resolve("events");
        int program = run("h1", SLEEPER, Hook.newBuilder().setCommand(logEvent(events)).build());
        cluster.stopAgent("h1");
        cluster.startAgent("h1");

        String first = checkpoint(OperationListener.SILENT).checkpointId();

        assertThat(events(events)).startsWith("pre-freeze " + first + " - pid=" + program + " group=app\n");
        await("the post-thaw notification of " + first).atMost(Duration.ofSeconds(20))
                .until(() -> events(events).contains("post-thaw " + first + " COMMIT pid=" + program));
        cluster.killApplications();
        await("the program is gone").atMost(Duration.ofSeconds(10)).until(() -> ProcessHandle.of(program).isEmpty());

        RestoreResult restored = new RestoreOperation(cluster.coordinator(), RestoreOptions.defaults().withAllowRoot(true),
                OperationListener.SILENT).run("app");

        int again = restored.processesByHost().get("h1").stream().filter(p -> p.getOldPid() == program)
                .mapToInt(StagedProcess::getNewPid).findFirst().orElseThrow();
        assertThat(environ(again)).contains("LOCKSTEP_CHECKPOINT=" + first, "LOCKSTEP_RESTORED=1");
        String second = checkpoint(OperationListener.SILENT).checkpointId();
        assertThat(events(events)).contains("pre-freeze " + second + " - pid=" + again + " group=app\n");
        await("the post-thaw notification of " + second).atMost(Duration.ofSeconds(20))
                .until(() -> events(events).contains("post-thaw " + second + " COMMIT pid=" + again));
        Invariants.assertAll(cluster);
    }

    private static List<String> environ(int pid) throws Exception {
        return List.of(new String(Files.readAllBytes(Path.of("/proc", Integer.toString(pid), "environ")),
                StandardCharsets.UTF_8).split("\0"));
    }

    private static String sha256(String text) throws Exception {
        return HexFormat.of().formatHex(MessageDigest.getInstance("SHA-256").digest(text.getBytes(StandardCharsets.UTF_8)));
    }
}
