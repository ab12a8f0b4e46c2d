package io.lockstep.coordinator.store;

import java.io.IOException;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.HexFormat;
import java.util.List;
import java.util.Optional;

/**
 * Where the manifests of checkpoints live: {@code <location>/<group>/<id>/<host>.manifest}, plus one
 * {@value #STORE_ID_NAME} object that names the store. Every backend publishes a manifest
 * atomically (a temporary name, then publish) and never overwrites one: a manifest that a catalog
 * entry points to is complete or absent, never half-written or replaced.
 */
public interface CheckpointStore extends AutoCloseable {
    String MANIFEST_SUFFIX = ".manifest";
    String STORE_ID_NAME = ".lockstep-store-id";

    /** What was stored: where, its size and its sha256 (hex). */
    record StoredManifest(String hostId, String uri, long size, String sha256) {
    }

    /** The store's location, as a URI ({@code file:///…}, {@code s3://bucket/prefix}). */
    String uri();

    /** Where a manifest is (or would be), for messages and the catalog. */
    String manifestUri(String group, String checkpointId, String hostId);

    /**
     * Publishes the framed manifest bytes and returns their digest.
     *
     * @throws java.nio.file.FileAlreadyExistsException when that manifest exists already
     * @throws IOException when it could not be written; nothing is published then
     */
    StoredManifest write(String group, String checkpointId, String hostId, byte[] framed) throws IOException;

    /**
     * Reads a manifest and checks it against the digest the catalog recorded.
     *
     * @throws StoreCorruptionException when it is missing, or its size or digest differ
     */
    byte[] readVerified(String group, String checkpointId, String hostId, String expectedSha256, long expectedSize)
            throws IOException;

    /** Whether the manifest exists with this size: a check without reading it, for retention. */
    boolean exists(String group, String checkpointId, String hostId, long expectedSize) throws IOException;

    /** Removes a checkpoint's manifests (aborted leftovers, retention). Missing is fine. */
    void delete(String group, String checkpointId) throws IOException;

    /** The checkpoint ids that have anything in the store, sorted. */
    List<String> checkpointIds(String group) throws IOException;

    /** The store's id, if it has one. */
    Optional<String> storeId() throws IOException;

    /**
     * Gives the store the id {@code candidate} unless it already has one (never overwritten), and
     * returns the id it has.
     */
    String claimStoreId(String candidate) throws IOException;

    @Override
    default void close() {
    }

    static String sha256Hex(byte[] data) {
        try {
            return HexFormat.of().formatHex(MessageDigest.getInstance("SHA-256").digest(data));
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException("the JVM lacks SHA-256", e);
        }
    }
}
