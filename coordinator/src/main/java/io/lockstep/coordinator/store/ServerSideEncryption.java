package io.lockstep.coordinator.store;

import java.util.Locale;

import software.amazon.awssdk.services.s3.model.PutObjectRequest;

/**
 * Server-side encryption an {@code s3:} store asks for on every PUT ({@code --store-sse}): none,
 * SSE-S3 ({@code aes256}: keys the server manages) or SSE-KMS ({@code kms} with the bucket's or
 * the account's default key, {@code kms:KEY-ID} with a key id, alias or ARN).
 */
public record ServerSideEncryption(String algorithm, String kmsKeyId) {
    public static final ServerSideEncryption NONE = new ServerSideEncryption(null, null);
    private static final String AES256 = "AES256";
    private static final String KMS = "aws:kms";

    /** @throws IllegalArgumentException naming the option for anything but none, aes256, kms, kms:KEY-ID */
    public static ServerSideEncryption parse(String option) {
        String kind = option.contains(":") ? option.substring(0, option.indexOf(':')) : option;
        String key = option.contains(":") ? option.substring(option.indexOf(':') + 1) : null;
        switch (kind.toLowerCase(Locale.ROOT)) {
            case "none" -> {
                if (key == null) {
                    return NONE;
                }
            }
            case "aes256" -> {
                if (key == null) {
                    return new ServerSideEncryption(AES256, null);
                }
            }
            case "kms" -> {
                if (key == null) {
                    return new ServerSideEncryption(KMS, null);
                }
                if (!key.isBlank()) {
                    return new ServerSideEncryption(KMS, key);
                }
            }
            default -> {
            }
        }
        throw new IllegalArgumentException("--store-sse " + option + ": use none, aes256 (SSE-S3), kms (SSE-KMS with "
                + "the default key) or kms:KEY-ID (SSE-KMS with that key id, alias or ARN)");
    }

    public boolean requested() {
        return algorithm != null;
    }

    PutObjectRequest.Builder applyTo(PutObjectRequest.Builder put) {
        if (algorithm != null) {
            put.serverSideEncryption(algorithm);
        }
        if (kmsKeyId != null) {
            put.ssekmsKeyId(kmsKeyId);
        }
        return put;
    }

    /** @param answered the server's {@code x-amz-server-side-encryption} answer to a PUT, or null */
    boolean confirmedBy(String answered) {
        return algorithm == null || algorithm.equals(answered);
    }

    @Override
    public String toString() {
        if (algorithm == null) {
            return "none";
        }
        return algorithm.equals(AES256) ? "SSE-S3 AES256" : "SSE-KMS" + (kmsKeyId == null ? " with the default key"
                : " with key " + kmsKeyId);
    }
}
