package io.lockstep.zk;

import io.lockstep.proto.DataPathRecord;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.HexFormat;
import java.util.List;
import java.util.Set;
import org.apache.curator.framework.CuratorFramework;
import org.apache.zookeeper.KeeperException;

/**
 * A group's declared data paths in ZooKeeper ({@code groups/<group>/data-paths/<key>}), so that every agent
 * and the coordinator see the same set. Written by {@code coordinator data-path}, read by agents at capture.
 */
public final class DataPaths {
    public static final Set<String> ENGINES = Set.of("reflink", "btrfs", "command", "copy");

    private final CuratorFramework zk;
    private final ZkLayout layout;

    public DataPaths(CuratorFramework zk, ZkLayout layout) {
        this.zk = zk;
        this.layout = layout;
    }

    /** The node name of a data path: 16 hex digits of sha256(path). */
    public static String key(String path) {
        try {
            byte[] digest = MessageDigest.getInstance("SHA-256").digest(path.getBytes(StandardCharsets.UTF_8));
            return HexFormat.of().formatHex(digest, 0, 8);
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException("the JDK has no SHA-256", e);
        }
    }

    /** Checks a declaration; the message names what is wrong with it. */
    public static DataPathRecord validate(DataPathRecord record) {
        Path path = Path.of(record.getPath());
        if (!path.isAbsolute() || !path.normalize().toString().equals(record.getPath())) {
            throw new IllegalArgumentException("data path " + record.getPath() + " must be absolute and normalized");
        }
        if (!record.getEngine().isEmpty() && !ENGINES.contains(record.getEngine())) {
            throw new IllegalArgumentException("data path " + record.getPath() + ": no engine named " + record.getEngine()
                    + " (known: reflink, btrfs, command, copy)");
        }
        boolean anyCommand = !record.getSnapshotCommand().isBlank() || !record.getRollbackCommand().isBlank()
                || !record.getDeleteCommand().isBlank();
        boolean allCommands = !record.getSnapshotCommand().isBlank() && !record.getRollbackCommand().isBlank()
                && !record.getDeleteCommand().isBlank();
        if (record.getEngine().equals("command") ? !allCommands : anyCommand) {
            throw new IllegalArgumentException("data path " + record.getPath() + ": the command engine needs a snapshot,"
                    + " a roll-back and a delete command, and the other engines take none");
        }
        return record;
    }

    /** Adds or replaces the declaration of {@code record.path}; returns whether it replaced one. */
    public boolean put(String group, DataPathRecord record) throws Exception {
        validate(record);
        String node = layout.dataPaths(group) + "/" + key(record.getPath());
        byte[] data = ZkJson.toBytes(record);
        try {
            zk.create().creatingParentsIfNeeded().forPath(node, data);
            return false;
        } catch (KeeperException.NodeExistsException e) {
            zk.setData().forPath(node, data);
            return true;
        }
    }

    /** Removes the declaration of {@code path}; returns whether there was one. */
    public boolean remove(String group, String path) throws Exception {
        try {
            zk.delete().forPath(layout.dataPaths(group) + "/" + key(path));
            return true;
        } catch (KeeperException.NoNodeException e) {
            return false;
        }
    }

    /** The group's data paths, by path. */
    public List<DataPathRecord> list(String group) throws Exception {
        String parent = layout.dataPaths(group);
        List<String> children;
        try {
            children = zk.getChildren().forPath(parent);
        } catch (KeeperException.NoNodeException e) {
            return List.of();
        }
        List<DataPathRecord> records = new ArrayList<>();
        for (String child : children) {
            try {
                records.add(ZkJson.parse(zk.getData().forPath(parent + "/" + child), DataPathRecord.getDefaultInstance(),
                        parent + "/" + child));
            } catch (KeeperException.NoNodeException removedMeanwhile) {
                // Removed between the listing and the read: no longer declared.
            }
        }
        records.sort(Comparator.comparing(DataPathRecord::getPath));
        return records;
    }
}
