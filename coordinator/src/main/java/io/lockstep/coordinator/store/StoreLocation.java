package io.lockstep.coordinator.store;

import java.net.URI;
import java.net.URISyntaxException;
import java.nio.file.Path;

/**
 * Where the store is, as the operator wrote it: {@code file:///path}, a plain path (meaning
 * {@code file:}), or {@code s3://bucket/prefix}.
 */
public final class StoreLocation {
    private StoreLocation() {
    }

    /**
     * Opens the store at {@code location}.
     *
     * @param endpoint an S3-compatible server's URL for {@code s3:} (path-style), or null
     * @throws IllegalArgumentException for a location that is none of the above
     */
    public static CheckpointStore open(String location, String endpoint) {
        return open(location, endpoint, ServerSideEncryption.NONE, false);
    }

    /**
     * As {@link #open(String, String)}, with an {@code s3:} store's server-side encryption and
     * whether it may use the EC2 instance role's credentials.
     *
     * @throws IllegalArgumentException also for either given with a store that is not {@code s3:}
     */
    public static CheckpointStore open(String location, String endpoint, ServerSideEncryption encryption,
                                       boolean instanceRole) {
        if (location.startsWith("s3:")) {
            URI uri = parse(location);
            String bucket = uri.getHost();
            if (bucket == null || bucket.isEmpty()) {
                throw new IllegalArgumentException("store " + location + ": an s3: store is s3://BUCKET[/PREFIX]");
            }
            String prefix = uri.getPath() == null ? "" : uri.getPath().replaceAll("^/+|/+$", "");
            return S3CheckpointStore.open(bucket, prefix, new S3StoreSettings(endpoint == null ? null : endpointUri(endpoint),
                    null, instanceRole, encryption));
        }
        if (endpoint != null) {
            throw new IllegalArgumentException("--store-endpoint is for an s3: store, not " + location);
        }
        if (encryption.requested()) {
            throw new IllegalArgumentException("--store-sse is for an s3: store, not " + location
                    + " (--manifest-key encrypts manifests in any store)");
        }
        if (instanceRole) {
            throw new IllegalArgumentException("--store-instance-role is for an s3: store, not " + location);
        }
        if (location.startsWith("file:")) {
            URI uri = parse(location);
            if (uri.getAuthority() != null && !uri.getAuthority().isEmpty()) {
                throw new IllegalArgumentException("store " + location + ": a file: store is file:///ABSOLUTE/PATH");
            }
            return new FileCheckpointStore(Path.of(uri));
        }
        if (location.matches("^[A-Za-z][A-Za-z0-9+.-]*://.*")) {
            throw new IllegalArgumentException("store " + location + ": unknown scheme; use file:///PATH, a path, or "
                    + "s3://BUCKET/PREFIX");
        }
        return new FileCheckpointStore(Path.of(location));
    }

    private static URI parse(String location) {
        try {
            return new URI(location);
        } catch (URISyntaxException e) {
            throw new IllegalArgumentException("store " + location + " is not a valid URI: " + e.getMessage());
        }
    }

    private static URI endpointUri(String endpoint) {
        URI uri = parse(endpoint);
        if (!"http".equals(uri.getScheme()) && !"https".equals(uri.getScheme())) {
            throw new IllegalArgumentException("--store-endpoint " + endpoint + ": use http://HOST:PORT or https://HOST:PORT");
        }
        return uri;
    }
}
