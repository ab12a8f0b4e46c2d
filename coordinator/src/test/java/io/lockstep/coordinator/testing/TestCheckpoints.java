package io.lockstep.coordinator.testing;

import io.lockstep.manifest.ManifestCodec;
import io.lockstep.coordinator.store.CheckpointStore;
import io.lockstep.proto.CatalogEntry;
import io.lockstep.proto.CatalogManifest;
import io.lockstep.proto.FdKind;
import io.lockstep.proto.FdRecord;
import io.lockstep.proto.FileIdentity;
import io.lockstep.proto.IdentityKind;
import io.lockstep.proto.LockKind;
import io.lockstep.proto.LockRecord;
import io.lockstep.proto.LockType;
import io.lockstep.proto.Manifest;
import io.lockstep.proto.OpKind;
import io.lockstep.proto.OpRecord;
import io.lockstep.proto.ProcessRecord;
import io.lockstep.zk.Decision;
import io.lockstep.zk.ZkJson;
import io.lockstep.zk.ZkLayout;
import org.apache.curator.framework.CuratorFramework;
import org.apache.zookeeper.CreateMode;

import java.nio.charset.StandardCharsets;
import java.util.List;

/**
 * Writes what a committed (or aborted, or running) checkpoint leaves behind, with the layout of
 * docs/DESIGN.md, without running one: op record, decision, catalog entry, {@code latest}, manifests.
 */
public final class TestCheckpoints {
    private final CuratorFramework zk;
    private final ZkLayout layout;
    private final CheckpointStore store;

    public TestCheckpoints(CuratorFramework zk, ZkLayout layout, CheckpointStore store) {
        this.zk = zk;
        this.layout = layout;
        this.store = store;
    }

    /** A committed checkpoint with one manifest per host; {@code latest} points to it. */
    public CatalogEntry commit(String group, String id, long epoch, String... hosts) throws Exception {
        CatalogEntry.Builder entry = CatalogEntry.newBuilder().setCheckpointId(id).setGroup(group).setOpId(id)
                .setEpoch(epoch).setCreatedUnixMs(1_700_000_000_000L + epoch * 1000).setFrozenWindowMs(40);
        for (String host : hosts) {
            CheckpointStore.StoredManifest stored = store.write(group, id, host, ManifestCodec.encode(manifest(group, host, id, epoch)));
            entry.addManifests(CatalogManifest.newBuilder().setHostId(host).setUri(stored.uri())
                    .setSha256(stored.sha256()).setSize(stored.size()));
            entry.setProcesses(entry.getProcesses() + 1).setLocks(entry.getLocks() + 1).setFiles(entry.getFiles() + 1);
        }
        opRecord(group, id, epoch, hosts);
        zk.create().withMode(CreateMode.PERSISTENT).forPath(layout.decision(group, id), Decision.commit().toBytes());
        zk.create().creatingParentContainersIfNeeded().forPath(layout.checkpoint(group, id), ZkJson.toBytes(entry.build()));
        byte[] latest = id.getBytes(StandardCharsets.UTF_8);
        if (zk.checkExists().forPath(layout.latest(group)) == null) {
            zk.create().forPath(layout.latest(group), latest);
        } else {
            zk.setData().forPath(layout.latest(group), latest);
        }
        return entry.build();
    }

    /** An aborted checkpoint whose partial manifest stayed in the store. */
    public void abortedLeftover(String group, String id, long epoch, String host) throws Exception {
        store.write(group, id, host, ManifestCodec.encode(manifest(group, host, id, epoch)));
        opRecord(group, id, epoch, host);
        zk.create().forPath(layout.decision(group, id), Decision.abort("freeze failed").toBytes());
    }

    /** An operation whose coordinator died before deciding: no owner, no decision, a partial manifest. */
    public void orphan(String group, String id, long epoch, String host) throws Exception {
        store.write(group, id, host, ManifestCodec.encode(manifest(group, host, id, epoch)));
        opRecord(group, id, epoch, host);
    }

    /** An operation being run now by this test's session: owner present, no decision. */
    public void running(String group, String id, long epoch, String host) throws Exception {
        store.write(group, id, host, ManifestCodec.encode(manifest(group, host, id, epoch)));
        opRecord(group, id, epoch, host);
        zk.create().withMode(CreateMode.EPHEMERAL).forPath(layout.owner(group, id), "test".getBytes(StandardCharsets.UTF_8));
    }

    private void opRecord(String group, String id, long epoch, String... hosts) throws Exception {
        OpRecord record = OpRecord.newBuilder().setOpId(id).setKind(OpKind.CHECKPOINT).setEpoch(epoch)
                .addAllParticipants(List.of(hosts)).setCoordinatorId("test").build();
        zk.create().creatingParentContainersIfNeeded().forPath(layout.op(group, id), ZkJson.toBytes(record));
    }

    public static Manifest manifest(String group, String host, String op, long epoch) {
        FileIdentity data = FileIdentity.newBuilder().setKind(IdentityKind.NETWORK).setFsType("nfs4")
                .setSource("filer:/export").setRelativePath("app/" + group + ".db").build();
        return Manifest.newBuilder().setGroup(group).setHostId(host).setOpId(op).setEpoch(epoch)
                .setHostname(host + ".example").setFreezer("cgroup-v2")
                .addProcesses(ProcessRecord.newBuilder().setPid(4242).setPpid(1).addArgv("/usr/bin/app").setComm("app")
                        .setCwd("/srv").addTids(4242)
                        .addFds(FdRecord.newBuilder().setFd(3).setKind(FdKind.FD_REGULAR).setPath("/mnt/filer/app/"
                                + group + ".db").setOpenFlags(02).setOffset(512).setIdentity(data))
                        .addLocks(LockRecord.newBuilder().setKind(LockKind.POSIX).setType(LockType.WRITE).setStart(0)
                                .setEnd(-1).setFd(3).setOwnerPid(4242).setIdentity(data)))
                .build();
    }
}
