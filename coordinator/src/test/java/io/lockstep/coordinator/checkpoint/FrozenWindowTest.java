package io.lockstep.coordinator.checkpoint;

import io.lockstep.coordinator.op.FailureReason;
import io.lockstep.coordinator.op.OperationFailedException;
import io.lockstep.coordinator.op.OperationListener;
import io.lockstep.coordinator.testing.Invariants;
import io.lockstep.coordinator.testing.LocalCluster;
import io.lockstep.zk.Decision;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

import java.net.StandardProtocolFamily;
import java.net.UnixDomainSocketAddress;
import java.nio.ByteBuffer;
import java.nio.channels.SocketChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.atomic.AtomicReference;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.awaitility.Awaitility.await;

/**
 * The frozen window holds only freeze, capture and thaw (docs/DESIGN.md, "Checkpoint"): the store
 * write and the commit come after the thaw, and a host that thaws on its own before every host
 * captured makes the checkpoint abort.
 */
class FrozenWindowTest {
    private LocalCluster cluster;

    @AfterEach
    void tearDown() throws Exception {
        if (cluster != null) {
            cluster.close();
        }
    }

    @Test
    void aFreezeGuardFiringAfterItsHostCapturedAndBeforeTheCommitAbortsWithNothingCommitted() throws Exception {
        cluster = LocalCluster.start("h1", "h2");
        startTicker("h1");
        startTicker("h2");
        // The hosts move from freeze to capture to thaw on their own signals, so the test orders them
        // through their groups' monitors (a freeze and a capture each take it): h1 freezes only after
        // h2 froze, so h1 completes the frozen barrier; h2 captures only once h1's guard fired and h1
        // decided ABORT — h1 captured, thawed by its guard, while h2 was still frozen.
        HeldMonitor h1Freeze = HeldMonitor.hold(cluster.agent("h1").groups().find("app").orElseThrow());
        AtomicReference<HeldMonitor> h2Capture = new AtomicReference<>();
        AtomicReference<String> opId = new AtomicReference<>();
        AtomicReference<Map<String, Boolean>> frozenAfterTheGuard = new AtomicReference<>();
        OperationListener fireH1sGuardOnceCaptured = new OperationListener() {
            @Override
            public void opened(String kind, String group, String op, long epoch) {
                opId.set(op);
            }

            @Override
            public void hostDone(String phase, String hostId, int done, int total, String detail) {
                if (phase.equals("freeze") && hostId.equals("h2")) {
                    // h2 froze first: no all-frozen yet, so h2 has not started its capture.
                    h2Capture.set(HeldMonitor.hold(cluster.agent("h2").groups().find("app").orElseThrow()));
                    h1Freeze.release();
                }
                if (phase.equals("capture") && hostId.equals("h1")) {
                    try {
                        fireGuardOf("h1", opId.get());
                        await("h1's guard thawed its group").atMost(Duration.ofSeconds(20))
                                .until(() -> !cluster.cgroups("h1").forGroup("app").isFrozen());
                        frozenAfterTheGuard.set(Invariants.frozenState(cluster, "app"));
                        await("h1's agent decides ABORT on its guard").atMost(Duration.ofSeconds(20))
                                .until(() -> !Invariants.decisions(cluster, "app").isEmpty());
                    } catch (Exception e) {
                        throw new IllegalStateException("could not fire h1's freeze guard", e);
                    } finally {
                        h2Capture.get().release();
                    }
                }
            }
        };

        try {
            assertThatThrownBy(() -> new CheckpointOperation(cluster.coordinator(), CheckpointOptions.defaults(),
                    fireH1sGuardOnceCaptured).run("app"))
                    .isInstanceOfSatisfying(OperationFailedException.class, e -> assertThat(e.reason())
                            .isIn(FailureReason.ABORTED_ELSEWHERE, FailureReason.COMMIT_FAILED));
        } finally {
            h1Freeze.release();
            if (h2Capture.get() != null) {
                h2Capture.get().release();
            }
        }

        // h1 ran again while h2 was still frozen: exactly the thaw the commit must never include.
        assertThat(frozenAfterTheGuard.get()).containsEntry("h1", false).containsEntry("h2", true);
        List<Decision> decisions = Invariants.decisions(cluster, "app");
        assertThat(decisions).singleElement().satisfies(decision -> {
            assertThat(decision.isCommit()).isFalse();
            assertThat(decision.reason()).contains("freeze guard of host h1", "before every host captured");
        });
        assertThat(cluster.coordinator().zk().checkExists().forPath(cluster.layout().latest("app"))).isNull();
        assertThat(cluster.coordinator().zk().checkExists().forPath(cluster.layout().checkpoint("app", opId.get()))).isNull();
        assertThat(cluster.fileStore().checkpointDir("app", opId.get())).doesNotExist();
        Invariants.assertAll(cluster);
    }

    @Test
    void aStoreWriteFailingAfterTheThawAbortsWhileTheApplicationRuns() throws Exception {
        cluster = LocalCluster.start("h1", "h2");
        Path counter1 = startTicker("h1");
        Path counter2 = startTicker("h2");
        AtomicReference<String> opId = new AtomicReference<>();
        AtomicReference<Map<String, Boolean>> frozenWhenTheStoreFailed = new AtomicReference<>();
        List<String> phasesBeforeTheStore = new ArrayList<>();
        OperationListener breakTheStoreAfterTheThaw = new OperationListener() {
            @Override
            public void opened(String kind, String group, String op, long epoch) {
                opId.set(op);
            }

            @Override
            public void phaseEnded(String phase, long micros) {
                phasesBeforeTheStore.add(phase);
                if (!phase.equals("capture")) {
                    return;
                }
                // Every host captured; the manifests travel and are stored next, each as it arrives
                // after its host thawed. Every host's temporary manifest file is taken by a directory
                // that is not empty: the write cannot replace it, and fails.
                try {
                    Path dir = cluster.fileStore().checkpointDir("app", opId.get());
                    for (String host : cluster.hosts()) {
                        Files.writeString(Files.createDirectories(dir.resolve("." + host + ".manifest.tmp"))
                                .resolve("occupied"), host);
                    }
                } catch (Exception e) {
                    throw new IllegalStateException("could not break the store", e);
                }
            }

            @Override
            public void failed(String kind, String group, Exception failure) {
                try {
                    frozenWhenTheStoreFailed.set(Invariants.frozenState(cluster, "app"));
                    // Both applications count on.
                    awaitTicking(counter1);
                    awaitTicking(counter2);
                } catch (Exception e) {
                    throw new IllegalStateException("could not look at the application", e);
                }
            }
        };

        assertThatThrownBy(() -> new CheckpointOperation(cluster.coordinator(), CheckpointOptions.defaults(),
                breakTheStoreAfterTheThaw).run("app"))
                .isInstanceOfSatisfying(OperationFailedException.class,
                        e -> {
                            assertThat(e.reason()).isEqualTo(FailureReason.STORE_FAILED);
                            assertThat(e.getMessage()).contains("cannot write manifest of host");
                        });

        // no hooks round (no host lists a hooked program of the group); the store failed inside the
        // round that fetches the manifests (each host thawed before it answered)
        assertThat(phasesBeforeTheStore).containsExactly("freeze", "capture");
        assertThat(frozenWhenTheStoreFailed.get()).containsOnly(Map.entry("h1", false), Map.entry("h2", false));
        assertThat(Invariants.decisions(cluster, "app")).singleElement()
                .satisfies(decision -> assertThat(decision.isCommit()).isFalse());
        assertThat(cluster.coordinator().zk().checkExists().forPath(cluster.layout().latest("app"))).isNull();
        Invariants.assertAll(cluster);
    }

    /** A thread that holds an object's monitor until released: what the agent's freeze and capture of a group wait for. */
    private static final class HeldMonitor {
        private final java.util.concurrent.CountDownLatch release = new java.util.concurrent.CountDownLatch(1);

        static HeldMonitor hold(Object monitor) {
            HeldMonitor held = new HeldMonitor();
            java.util.concurrent.CountDownLatch holding = new java.util.concurrent.CountDownLatch(1);
            Thread holder = new Thread(() -> {
                synchronized (monitor) {
                    holding.countDown();
                    try {
                        held.release.await();
                    } catch (InterruptedException e) {
                        Thread.currentThread().interrupt();
                    }
                }
            }, "test-holds-a-group");
            holder.setDaemon(true);
            holder.start();
            try {
                if (!holding.await(20, java.util.concurrent.TimeUnit.SECONDS)) {
                    throw new IllegalStateException("the group's monitor was not free within 20 s");
                }
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                throw new IllegalStateException(e);
            }
            return held;
        }

        void release() {
            release.countDown();
        }
    }

    /**
     * Makes the freeze guard of {@code host}'s group run now, as at the end of its maximum frozen
     * time: the op's entry is armed again in the agent's guard with 1 ms left, which replaces it.
     */
    private void fireGuardOf(String host, String opId) throws Exception {
        String thawScript = cluster.cgroups(host).forGroup("app").freezer().thawScript();
        Path socket = cluster.agentConfig(host).stateDir().resolve("guard.sock");
        try (SocketChannel guard = SocketChannel.open(StandardProtocolFamily.UNIX)) {
            guard.connect(UnixDomainSocketAddress.of(socket));
            guard.write(ByteBuffer.wrap(("ARM app/" + opId + " 1 " + thawScript + "\n").getBytes(StandardCharsets.UTF_8)));
            ByteBuffer reply = ByteBuffer.allocate(512);
            while (!new String(reply.array(), 0, reply.position(), StandardCharsets.UTF_8).contains("\n")) {
                assertThat(guard.read(reply)).as("the guard at " + socket + " answers").isPositive();
            }
            assertThat(new String(reply.array(), 0, reply.position(), StandardCharsets.UTF_8))
                    .startsWith("ARMED app/" + opId);
        }
    }

    private Path startTicker(String host) throws Exception {
        Path counter = cluster.dir().resolve("counter-" + host);
        int pid = cluster.run(host, "app", LocalCluster.worker("ready", "tick", counter.toString()));
        cluster.awaitReady(host, "app", pid);
        return counter;
    }

    private static void awaitTicking(Path counter) throws Exception {
        String before = Files.readString(counter);
        await("the ticker " + counter.getFileName() + " counts on").atMost(Duration.ofSeconds(20))
                .until(() -> !Files.readString(counter).equals(before));
    }
}
