package io.lockstep.coordinator.cli;

import io.lockstep.cli.JsonText;
import io.lockstep.manifest.ManifestPrinter;
import io.lockstep.names.RecordedNames;
import io.lockstep.coordinator.catalog.Catalog;
import io.lockstep.coordinator.catalog.KnownGroups;
import io.lockstep.coordinator.op.CoordinatorContext;
import io.lockstep.proto.CatalogEntry;
import io.lockstep.proto.CatalogManifest;
import io.lockstep.proto.Manifest;
import io.lockstep.zk.ZkLayout;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;
import picocli.CommandLine.Spec;

import java.io.IOException;
import java.io.PrintWriter;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.concurrent.Callable;

@Command(name = "show", mixinStandardHelpOptions = true,
        description = {
                "Shows one checkpoint: per host, per process, the open files (fd, flags, offset, portable file "
                        + "identity) and the locks held or waited for, read from the stored manifests.",
                "Every manifest is verified against the sha256 the catalog recorded: a missing or damaged "
                        + "manifest is an error (exit 11) naming the host and the file."})
final class ShowCommand implements Callable<Integer> {
    @Spec
    CommandSpec spec;

    @Mixin
    ConnectionOptions connection;

    @Parameters(index = "0", paramLabel = "ID",
            description = "Checkpoint id, or `latest` (which needs --group).")
    String id;

    @Option(names = "--group", paramLabel = "GROUP",
            description = "The checkpoint's group (default: whichever group has a checkpoint with this id).")
    String group;

    @Option(names = "--json", description = "Print the catalog entry and the full manifests as JSON on stdout.")
    boolean json;

    @Option(names = "--show-env", description = "Print the recorded environment values too (they may hold passwords"
            + " and tokens); by default only the variables' names are printed.")
    boolean showEnv;

    @Override
    public Integer call() throws Exception {
        if (group == null && Catalog.LATEST.equals(id)) {
            throw new CommandLine.ParameterException(spec.commandLine(), "`show latest` needs --group");
        }
        try (CoordinatorSession session = CoordinatorSession.open(connection, spec.commandLine().getErr())) {
            if (group != null) {
                new KnownGroups(session.context()).require(group);
            }
            Catalog catalog = session.catalog();
            CatalogEntry entry = group == null ? catalog.find(id) : catalog.resolve(ZkLayout.checkName("group", group), id);
            Map<String, Manifest> manifests = readManifests(session.context(), entry);
            PrintWriter out = spec.commandLine().getOut();
            out.print(json ? JsonText.print(toJson(entry, manifests, showEnv)) + "\n" : toText(entry, manifests, showEnv));
            out.flush();
        }
        return ExitCode.OK.code();
    }

    /** Reads every host's manifest, checked against the catalog, in the catalog's host order. */
    static Map<String, Manifest> readManifests(CoordinatorContext ctx, CatalogEntry entry) throws IOException {
        return new Catalog(ctx).manifests(entry);
    }

    private static String toText(CatalogEntry entry, Map<String, Manifest> manifests, boolean showEnv) {
        StringBuilder text = new StringBuilder();
        text.append("checkpoint ").append(entry.getCheckpointId()).append(" of group ").append(entry.getGroup())
                .append(" (epoch ").append(entry.getEpoch()).append(", op ").append(entry.getOpId()).append(")\n")
                .append("created ").append(HumanFormat.timestamp(entry.getCreatedUnixMs())).append(", ")
                .append(entry.getManifestsCount()).append(" hosts, ").append(entry.getProcesses()).append(" processes, ")
                .append(entry.getLocks()).append(" locks, ").append(entry.getFiles()).append(" files\n");
        for (CatalogManifest stored : entry.getManifestsList()) {
            text.append("\n== host ").append(stored.getHostId()).append(" (").append(HumanFormat.bytes(stored.getSize()))
                    .append(", sha256 ").append(stored.getSha256(), 0, Math.min(16, stored.getSha256().length()))
                    .append("…, verified) ==\n")
                    .append(ManifestPrinter.toText(manifests.get(stored.getHostId()), showEnv));
        }
        return text.toString();
    }

    private static Map<String, Object> toJson(CatalogEntry entry, Map<String, Manifest> manifests, boolean showEnv) {
        Map<String, Object> json = JsonText.object();
        json.put("checkpoint", entry);
        Map<String, Manifest> printed = new LinkedHashMap<>(manifests);
        // names as display strings, with their exact bytes (base64) in raw_* fields where they are not plain text
        printed.replaceAll((host, manifest) -> RecordedNames.deflate(manifest));
        if (!showEnv) {
            printed.replaceAll((host, manifest) -> ManifestPrinter.withoutEnvironmentValues(manifest));
        }
        json.put("manifests", printed);
        return json;
    }
}
