package io.lockstep.agent.cli;

import io.lockstep.cli.DurationConverter;
import io.lockstep.agent.capture.CaptureScope;
import io.lockstep.agent.capture.CaptureStats;
import io.lockstep.agent.capture.GroupCapturer;
import io.lockstep.agent.cgroup.CgroupLayout;
import io.lockstep.agent.cgroup.FreezeGuard;
import io.lockstep.agent.cgroup.FreezeResult;
import io.lockstep.agent.cgroup.Freezer;
import io.lockstep.agent.cgroup.GroupCgroup;
import io.lockstep.manifest.ManifestCodec;
import io.lockstep.agent.server.RestartSpecs;
import io.lockstep.proto.Manifest;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;
import picocli.CommandLine.Spec;
import picocli.CommandLine.Model.CommandSpec;

import java.net.InetAddress;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.Set;
import java.util.concurrent.Callable;

@Command(name = "capture", mixinStandardHelpOptions = true,
        description = {"Freeze one group on this host, capture its processes, files and locks into a manifest file, "
                + "and thaw it again.",
            "Local only: no ZooKeeper, no coordinator. For operators and tests; print the result with 'agent print FILE'."})
final class CaptureCommand implements Callable<Integer> {
    @Spec
    CommandSpec spec;

    @Option(names = "--group", required = true, description = "The group to capture.")
    String group;

    @Option(names = "--out", required = true, description = "Where to write the manifest.")
    Path out;

    @Option(names = "--cgroup-root", defaultValue = "lockstep", description = "The agent's cgroup root (default: ${DEFAULT-VALUE}).")
    String cgroupRoot;

    @Option(names = "--host-id", description = "Host id to record (default: this machine's hostname).")
    String hostId;

    @Option(names = "--state-dir", description = "The agent's state directory, for restart specs (default: /var/lib/lockstep/agent-<host-id>).")
    Path stateDir;

    @Option(names = "--freeze-timeout", defaultValue = "10s", converter = DurationConverter.class,
            description = "Give up (and thaw) if the group is not frozen by then (default: ${DEFAULT-VALUE}).")
    Duration freezeTimeout;

    @Option(names = "--max-frozen", defaultValue = "60s", converter = DurationConverter.class,
            description = "The freeze guard thaws the group after this long even if this command dies (default: ${DEFAULT-VALUE}).")
    Duration maxFrozen;

    @Override
    public Integer call() throws Exception {
        String host = hostId != null ? hostId : InetAddress.getLocalHost().getHostName();
        CgroupLayout layout = CgroupLayout.detect(cgroupRoot);
        GroupCgroup cgroup = layout.forGroup(group);
        if (cgroup.path().isPresent() && !Files.isDirectory(cgroup.path().get())) {
            spec.commandLine().getErr().println("agent capture: group " + group + " does not exist on this host ("
                    + cgroup.path().get() + ")");
            return AgentMain.FAILED;
        }
        Freezer freezer = cgroup.freezer();
        Manifest manifest;
        FreezeResult frozen;
        try (FreezeGuard guard = FreezeGuard.arm(freezer, maxFrozen)) {
            frozen = freezer.freeze(guard.capDeadline(Instant.now().plus(freezeTimeout)));
            try {
                Set<Integer> pids = cgroup.pids();
                RestartSpecs specs = new RestartSpecs((stateDir != null ? stateDir : Path.of("/var/lib/lockstep", "agent-" + host))
                        .resolve("groups").resolve(group).resolve("specs"));
                specs.load(pids);
                String op = "local-" + System.currentTimeMillis();
                manifest = new GroupCapturer().capture(new CaptureScope(group, host, op, 0, frozen.backend().toString(),
                        frozen.degraded(), new ArrayList<>(pids), specs.forPids(pids)));
            } finally {
                freezer.thaw();
            }
        }
        byte[] framed = ManifestCodec.encode(manifest);
        io.lockstep.files.PrivateFiles.writeAtomically(out, framed, true);
        CaptureStats stats = CaptureStats.of(manifest);
        spec.commandLine().getOut().printf("captured group %s on %s: %d processes, %d locks, %d files, frozen in %d µs (%s) -> %s (sha256 %s)%n",
                group, host, stats.processes(), stats.locks(), stats.files(), frozen.micros(), frozen.backend(), out,
                ManifestCodec.sha256Hex(framed));
        return AgentMain.OK;
    }
}
