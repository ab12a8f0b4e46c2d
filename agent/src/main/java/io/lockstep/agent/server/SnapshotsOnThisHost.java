package io.lockstep.agent.server;

import io.lockstep.agent.restore.PathResolver;
import io.lockstep.agent.snapshot.CommandEngine;
import io.lockstep.agent.snapshot.CopyEngine;
import io.lockstep.proto.FdRecord;
import io.lockstep.proto.FileIdentity;
import io.lockstep.proto.Manifest;
import io.lockstep.proto.SnapshotRecord;
import java.util.ArrayList;
import java.util.List;

/**
 * A manifest's snapshots as the restoring host can roll them back. On the host that took them, all of them, as
 * recorded. On another host (a restore with --map), those on a network file system this host mounts: data path
 * and location found by their recorded identities through this host's own mount of the export (wherever it is
 * mounted); the others — on a local file system, or in the taking host's copy store — are named with why.
 */
final class SnapshotsOnThisHost {
    private SnapshotsOnThisHost() {
    }

    static List<SnapshotRecord> rollBackable(Manifest manifest, String hostId, PathResolver resolver,
                                             List<String> skipped) {
        if (manifest.getHostId().equals(hostId)) {
            return manifest.getSnapshotsList();
        }
        List<SnapshotRecord> here = new ArrayList<>();
        for (SnapshotRecord record : manifest.getSnapshotsList()) {
            String what = record.getEngine() + " snapshot of " + record.getDataPath() + " (taken on host "
                    + manifest.getHostId() + ")";
            boolean command = record.getEngine().equals(CommandEngine.NAME);
            if (record.getEngine().equals(CopyEngine.NAME) && record.hasDataPathIdentity()) {
                skipped.add(what + ": its content is in host " + manifest.getHostId() + "'s copy store; that host rolls"
                        + " it back when its agent is up, else its files are validated as they are");
                continue;
            }
            if (!record.hasDataPathIdentity() || (!command && !record.hasLocationIdentity())) {
                skipped.add(what + ": not on a network file system this host can share"
                        + (record.hasDataPathIdentity() ? " (the snapshot is kept in host " + manifest.getHostId()
                        + "'s " + record.getEngine() + " store)" : "") + "; its files are validated as they are");
                continue;
            }
            PathResolver.Lookup dataPath = lookup(resolver, record.getDataPath(), record.getDataPathIdentity());
            PathResolver.Lookup location = command ? PathResolver.Lookup.byIdentity(record.getLocation())
                    : lookup(resolver, record.getLocation(), record.getLocationIdentity());
            PathResolver.Lookup missing = dataPath.path().isEmpty() ? dataPath : location;
            if (missing.path().isEmpty()) {
                skipped.add(what + ": " + (missing == dataPath ? "the data path" : "the snapshot") + " is not reachable"
                        + " through this host's mounts (" + missing.whyMissing() + "); its files are validated as they are");
                continue;
            }
            here.add(record.toBuilder().setDataPath(dataPath.path().get()).setLocation(location.path().get()).build());
        }
        return here;
    }

    /**
     * On the host that took them, for a manifest restored elsewhere: its copy snapshots of network data paths,
     * whose content only this host's copy store has (the target host rolls back the others).
     */
    static List<SnapshotRecord> copiesKeptHere(Manifest manifest, String hostId) {
        if (!manifest.getHostId().equals(hostId)) {
            return List.of();
        }
        return manifest.getSnapshotsList().stream()
                .filter(r -> r.getEngine().equals(CopyEngine.NAME) && r.hasDataPathIdentity()).toList();
    }

    /**
     * What validation on this host counts as rolled back: {@link #rollBackable}, plus, when the taking host rolls
     * back its copy snapshots ({@code copiesBySource}), those found through this host's mounts.
     */
    static List<SnapshotRecord> covered(Manifest manifest, String hostId, PathResolver resolver, boolean copiesBySource) {
        List<SnapshotRecord> covered = new ArrayList<>(rollBackable(manifest, hostId, resolver, new ArrayList<>()));
        if (copiesBySource && !manifest.getHostId().equals(hostId)) {
            covered.addAll(locatedHere(manifest.getSnapshotsList().stream()
                    .filter(record -> record.getEngine().equals(CopyEngine.NAME)).toList(), resolver));
        }
        return covered;
    }

    /** Network data-path snapshots (another manifest's), each named by where its data path is on this host. */
    static List<SnapshotRecord> locatedHere(List<SnapshotRecord> records, PathResolver resolver) {
        List<SnapshotRecord> located = new ArrayList<>();
        for (SnapshotRecord record : records) {
            if (record.hasDataPathIdentity()) {
                lookup(resolver, record.getDataPath(), record.getDataPathIdentity()).path()
                        .ifPresent(found -> located.add(record.toBuilder().setDataPath(found).build()));
            }
        }
        return located;
    }

    private static PathResolver.Lookup lookup(PathResolver resolver, String recorded, FileIdentity identity) {
        return resolver.lookup(FdRecord.newBuilder().setPath(recorded).setIdentity(identity).build());
    }
}
