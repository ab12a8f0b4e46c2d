package io.lockstep.coordinator.store;

import java.net.URI;

import software.amazon.awssdk.auth.credentials.AwsCredentialsProvider;

/**
 * How to reach an {@code s3:} store and how to write to it.
 *
 * @param endpoint an S3-compatible server's URL (path-style addressing), or null for the SDK's own choice
 * @param credentials null for the SDK's usual places (see {@link S3CheckpointStore#credentialsFor})
 * @param instanceRole also ask the EC2 instance metadata service for the instance role's credentials
 * @param encryption server-side encryption of every object written
 */
public record S3StoreSettings(URI endpoint, AwsCredentialsProvider credentials, boolean instanceRole,
                              ServerSideEncryption encryption) {
    public S3StoreSettings {
        if (encryption == null) {
            throw new IllegalArgumentException("encryption: use ServerSideEncryption.NONE for none");
        }
    }
}
