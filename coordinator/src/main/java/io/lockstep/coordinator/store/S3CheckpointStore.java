package io.lockstep.coordinator.store;

import java.io.IOException;
import java.net.URI;
import java.nio.charset.StandardCharsets;
import java.nio.file.FileAlreadyExistsException;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Base64;
import java.util.List;
import java.util.Optional;

import io.lockstep.zk.ZkLayout;
import software.amazon.awssdk.auth.credentials.AwsCredentials;
import software.amazon.awssdk.auth.credentials.AwsCredentialsProvider;
import software.amazon.awssdk.auth.credentials.AwsCredentialsProviderChain;
import software.amazon.awssdk.auth.credentials.ContainerCredentialsProvider;
import software.amazon.awssdk.auth.credentials.EnvironmentVariableCredentialsProvider;
import software.amazon.awssdk.auth.credentials.InstanceProfileCredentialsProvider;
import software.amazon.awssdk.auth.credentials.ProfileCredentialsProvider;
import software.amazon.awssdk.auth.credentials.SystemPropertyCredentialsProvider;
import software.amazon.awssdk.auth.credentials.WebIdentityTokenFileCredentialsProvider;
import software.amazon.awssdk.core.exception.SdkClientException;
import software.amazon.awssdk.core.interceptor.ExecutionInterceptor;
import software.amazon.awssdk.core.exception.SdkException;
import software.amazon.awssdk.core.sync.RequestBody;
import software.amazon.awssdk.core.checksums.RequestChecksumCalculation;
import software.amazon.awssdk.core.checksums.ResponseChecksumValidation;
import software.amazon.awssdk.http.urlconnection.UrlConnectionHttpClient;
import software.amazon.awssdk.regions.Region;
import software.amazon.awssdk.regions.providers.AwsProfileRegionProvider;
import software.amazon.awssdk.regions.providers.AwsRegionProvider;
import software.amazon.awssdk.regions.providers.AwsRegionProviderChain;
import software.amazon.awssdk.regions.providers.InstanceProfileRegionProvider;
import software.amazon.awssdk.regions.providers.SystemSettingsRegionProvider;
import software.amazon.awssdk.services.s3.S3Client;
import software.amazon.awssdk.services.s3.S3ClientBuilder;
import software.amazon.awssdk.services.s3.model.CommonPrefix;
import software.amazon.awssdk.services.s3.model.HeadObjectResponse;
import software.amazon.awssdk.services.s3.model.ListObjectsV2Request;
import software.amazon.awssdk.services.s3.model.ListObjectsV2Response;
import software.amazon.awssdk.services.s3.model.NoSuchKeyException;
import software.amazon.awssdk.services.s3.model.ObjectCannedACL;
import software.amazon.awssdk.services.s3.model.ObjectIdentifier;
import software.amazon.awssdk.services.s3.model.PutObjectRequest;
import software.amazon.awssdk.services.s3.model.PutObjectResponse;
import software.amazon.awssdk.services.s3.model.S3Exception;
import software.amazon.awssdk.services.s3.model.S3Object;

/**
 * The checkpoint store in an S3-compatible object store ({@code s3://bucket/prefix}): AWS S3,
 * MinIO, Ceph RGW. Credentials come from the SDK's usual places except the EC2 instance role,
 * which is asked only when the operator says so ({@link S3StoreSettings#instanceRole()}): its
 * probe of the instance metadata service takes seconds to fail off EC2. Region the SDK's usual
 * ways; an explicit endpoint selects path-style addressing, which S3-compatible servers expect.
 *
 * <p>Objects are private: each PUT carries the canned ACL {@code private}; a bucket whose ACLs are
 * disabled (AWS's default since 2023: objects belong to the bucket owner, only policies grant
 * access) refuses any ACL but the bucket owner's, so there the PUT goes again without one. With
 * server-side encryption asked for, each PUT carries it, and a server that answers without
 * confirming it stored the object encrypted is refused: the object is removed again.
 *
 * <p>A PUT is the publish: S3 never shows a partly uploaded object, and the Content-MD5 makes the
 * server refuse a body cut short. A manifest is never overwritten: the PUT carries
 * {@code If-None-Match: *}, and a HEAD before it catches servers that ignore that condition.
 */
public final class S3CheckpointStore implements CheckpointStore {
    private static final Duration CALL_TIMEOUT = Duration.ofSeconds(30);
    private static final Duration ATTEMPT_TIMEOUT = Duration.ofSeconds(10);

    private final S3Client s3;
    private final String bucket;
    private final String prefix;
    private final ServerSideEncryption encryption;
    /** Cleared once the bucket refused an ACL (ACLs disabled): its objects are the bucket owner's only. */
    private volatile boolean sendPrivateAcl = true;

    S3CheckpointStore(S3Client s3, String bucket, String prefix, ServerSideEncryption encryption) {
        this.s3 = s3;
        this.bucket = bucket;
        this.prefix = prefix;
        this.encryption = encryption;
    }

    /**
     * @param endpoint an S3-compatible server's URL, or null for the SDK's own choice
     * @param credentials null for the SDK's usual places without the instance role
     */
    public static S3CheckpointStore open(String bucket, String prefix, URI endpoint, AwsCredentialsProvider credentials) {
        return open(bucket, prefix, new S3StoreSettings(endpoint, credentials, false, ServerSideEncryption.NONE), List.of());
    }

    public static S3CheckpointStore open(String bucket, String prefix, S3StoreSettings settings) {
        return open(bucket, prefix, settings, List.of());
    }

    /** @param interceptors see each request the store sends (tests check the headers) */
    static S3CheckpointStore open(String bucket, String prefix, S3StoreSettings settings, List<ExecutionInterceptor> interceptors) {
        String uri = "s3://" + bucket + "/" + prefix;
        S3ClientBuilder builder = S3Client.builder()
                .httpClientBuilder(UrlConnectionHttpClient.builder()
                        .connectionTimeout(Duration.ofSeconds(5))
                        .socketTimeout(ATTEMPT_TIMEOUT))
                .region(region(settings.instanceRole()))
                // Checksums only where S3 requires them: S3-compatible servers do not all take
                // the SDK's default trailing checksums; Content-MD5 protects each PUT instead.
                .requestChecksumCalculation(RequestChecksumCalculation.WHEN_REQUIRED)
                .responseChecksumValidation(ResponseChecksumValidation.WHEN_REQUIRED)
                .overrideConfiguration(config -> config.apiCallTimeout(CALL_TIMEOUT).apiCallAttemptTimeout(ATTEMPT_TIMEOUT)
                        .executionInterceptors(interceptors))
                .credentialsProvider(settings.credentials() != null ? settings.credentials()
                        : credentialsFor(uri, settings.instanceRole()));
        if (settings.endpoint() != null) {
            builder.endpointOverride(settings.endpoint()).forcePathStyle(true);
        }
        return new S3CheckpointStore(builder.build(), bucket, prefix, settings.encryption());
    }

    /**
     * The SDK's default places in its order, without the instance role unless asked: system
     * properties, environment, web identity token, profile files, a container's credentials (only
     * where its variables are set). When none has credentials the failure names the store and where
     * to put them, at once.
     */
    static AwsCredentialsProvider credentialsFor(String storeUri, boolean instanceRole) {
        List<AwsCredentialsProvider> places = new ArrayList<>(List.of(SystemPropertyCredentialsProvider.create(),
                EnvironmentVariableCredentialsProvider.create(), WebIdentityTokenFileCredentialsProvider.create(),
                ProfileCredentialsProvider.create(), ContainerCredentialsProvider.builder().build()));
        if (instanceRole) {
            places.add(InstanceProfileCredentialsProvider.create());
        }
        AwsCredentialsProviderChain chain = AwsCredentialsProviderChain.builder().reuseLastProviderEnabled(true)
                .credentialsProviders(places).build();
        return new AwsCredentialsProvider() {
            @Override
            public AwsCredentials resolveCredentials() {
                try {
                    return chain.resolveCredentials();
                } catch (SdkClientException none) {
                    throw SdkClientException.create("no AWS credentials for store " + storeUri + ": set "
                            + "AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or AWS_PROFILE with ~/.aws/credentials, or "
                            + "AWS_WEB_IDENTITY_TOKEN_FILE"
                            + (instanceRole ? "; the EC2 instance role (instance metadata service) had none either"
                                    : "; on EC2, --store-instance-role uses the instance's role"), none);
                }
            }

            @Override
            public String toString() {
                return "credentials for " + storeUri + (instanceRole ? " (with the instance role)" : "");
            }
        };
    }

    /** As the SDK's default chain, without asking the instance metadata service unless the instance role may be used. */
    private static Region region(boolean instanceRole) {
        List<AwsRegionProvider> places = new ArrayList<>(List.of(new SystemSettingsRegionProvider(), new AwsProfileRegionProvider()));
        if (instanceRole) {
            places.add(new InstanceProfileRegionProvider());
        }
        try {
            return new AwsRegionProviderChain(places.toArray(AwsRegionProvider[]::new)).getRegion();
        } catch (SdkException none) {
            // S3-compatible servers ignore the region, and AWS redirects a wrong one.
            return Region.US_EAST_1;
        }
    }

    @Override
    public String uri() {
        return "s3://" + bucket + "/" + prefix;
    }

    @Override
    public String manifestUri(String group, String checkpointId, String hostId) {
        return "s3://" + bucket + "/" + manifestKey(group, checkpointId, hostId);
    }

    private String key(String relative) {
        return prefix.isEmpty() ? relative : prefix + "/" + relative;
    }

    private String checkpointPrefix(String group, String checkpointId) {
        return key(ZkLayout.checkName("group", group) + "/" + ZkLayout.checkName("checkpoint", checkpointId) + "/");
    }

    private String manifestKey(String group, String checkpointId, String hostId) {
        return checkpointPrefix(group, checkpointId) + ZkLayout.checkName("host", hostId) + MANIFEST_SUFFIX;
    }

    @Override
    public StoredManifest write(String group, String checkpointId, String hostId, byte[] framed) throws IOException {
        String key = manifestKey(group, checkpointId, hostId);
        String where = "s3://" + bucket + "/" + key;
        try {
            putIfAbsent(key, framed);
        } catch (FileAlreadyExistsException e) {
            throw e;
        } catch (IOException e) {
            throw new IOException("cannot write manifest of host " + hostId + " to " + where + ": " + e.getMessage(), e);
        }
        return new StoredManifest(hostId, where, framed.length, CheckpointStore.sha256Hex(framed));
    }

    private void putIfAbsent(String key, byte[] bytes) throws IOException {
        String where = "s3://" + bucket + "/" + key;
        if (head(key).isPresent()) {
            throw new FileAlreadyExistsException(where, null, "exists already; a store never overwrites");
        }
        PutObjectResponse response;
        try {
            response = put(key, bytes);
        } catch (S3Exception e) {
            if (e.statusCode() == 412) {
                throw new FileAlreadyExistsException(where, null, "exists already; a store never overwrites");
            }
            if (encryption.requested() && e.statusCode() == 501) {
                throw new IOException("the server does not implement server-side encryption (" + encryption
                        + "); it answered " + describe(e), e);
            }
            throw new IOException(describe(e), e);
        } catch (SdkException e) {
            throw new IOException(e.getMessage(), e);
        }
        if (!encryption.confirmedBy(response.serverSideEncryptionAsString())) {
            // Published but not as asked: a manifest must not stay in the clear when encryption was asked for.
            String removal;
            try {
                s3.deleteObject(delete -> delete.bucket(bucket).key(key));
                removal = "so it was removed again";
            } catch (SdkException e) {
                removal = "and removing it failed: " + e.getMessage();
            }
            throw new IOException("the server stored the object without the server-side encryption asked for ("
                    + encryption + "; it answered " + (response.serverSideEncryptionAsString() == null ? "no encryption"
                    : response.serverSideEncryptionAsString()) + "), " + removal);
        }
    }

    /** One PUT, private and encrypted as configured; again without an ACL where the bucket takes none. */
    private PutObjectResponse put(String key, byte[] bytes) {
        if (sendPrivateAcl) {
            try {
                return s3.putObject(request(key, bytes).acl(ObjectCannedACL.PRIVATE).build(), RequestBody.fromBytes(bytes));
            } catch (S3Exception e) {
                if (!"AccessControlListNotSupported".equals(errorCode(e))) {
                    throw e;
                }
                sendPrivateAcl = false;
            }
        }
        return s3.putObject(request(key, bytes).build(), RequestBody.fromBytes(bytes));
    }

    private PutObjectRequest.Builder request(String key, byte[] bytes) {
        PutObjectRequest.Builder put = PutObjectRequest.builder().bucket(bucket).key(key).ifNoneMatch("*")
                .contentLength((long) bytes.length).contentMD5(md5Base64(bytes));
        return encryption.applyTo(put);
    }

    @Override
    public byte[] readVerified(String group, String checkpointId, String hostId, String expectedSha256, long expectedSize)
            throws IOException {
        String key = manifestKey(group, checkpointId, hostId);
        String where = "s3://" + bucket + "/" + key;
        byte[] data;
        try {
            data = s3.getObjectAsBytes(get -> get.bucket(bucket).key(key)).asByteArray();
        } catch (NoSuchKeyException e) {
            throw new StoreCorruptionException("manifest of host " + hostId + " for checkpoint " + checkpointId
                    + " is missing from the store: " + where);
        } catch (S3Exception e) {
            throw new IOException("cannot read manifest " + where + ": " + describe(e), e);
        } catch (SdkException e) {
            throw new IOException("cannot read manifest " + where + ": " + e.getMessage(), e);
        }
        return Verify.manifest(where, data, expectedSha256, expectedSize);
    }

    @Override
    public boolean exists(String group, String checkpointId, String hostId, long expectedSize) throws IOException {
        return head(manifestKey(group, checkpointId, hostId)).map(head -> head.contentLength() == expectedSize).orElse(false);
    }

    private Optional<HeadObjectResponse> head(String key) throws IOException {
        try {
            return Optional.of(s3.headObject(head -> head.bucket(bucket).key(key)));
        } catch (NoSuchKeyException e) {
            return Optional.empty();
        } catch (S3Exception e) {
            if (e.statusCode() == 404) {
                return Optional.empty();
            }
            throw new IOException("cannot look at s3://" + bucket + "/" + key + ": " + describe(e), e);
        } catch (SdkException e) {
            throw new IOException("cannot look at s3://" + bucket + "/" + key + ": " + e.getMessage(), e);
        }
    }

    @Override
    public void delete(String group, String checkpointId) throws IOException {
        String under = checkpointPrefix(group, checkpointId);
        try {
            List<ObjectIdentifier> keys = new ArrayList<>();
            for (ListObjectsV2Response page : s3.listObjectsV2Paginator(list -> list.bucket(bucket).prefix(under))) {
                for (S3Object object : page.contents()) {
                    keys.add(ObjectIdentifier.builder().key(object.key()).build());
                }
            }
            // One DELETE per object: S3-compatible servers do not all accept multi-object deletes.
            for (ObjectIdentifier object : keys) {
                s3.deleteObject(delete -> delete.bucket(bucket).key(object.key()));
            }
        } catch (S3Exception e) {
            throw new IOException("cannot delete s3://" + bucket + "/" + under + ": " + describe(e), e);
        } catch (SdkException e) {
            throw new IOException("cannot delete s3://" + bucket + "/" + under + ": " + e.getMessage(), e);
        }
    }

    @Override
    public List<String> checkpointIds(String group) throws IOException {
        String under = key(ZkLayout.checkName("group", group) + "/");
        List<String> ids = new ArrayList<>();
        try {
            ListObjectsV2Request request = ListObjectsV2Request.builder().bucket(bucket).prefix(under).delimiter("/").build();
            for (ListObjectsV2Response page : s3.listObjectsV2Paginator(request)) {
                for (CommonPrefix common : page.commonPrefixes()) {
                    String id = common.prefix().substring(under.length());
                    ids.add(id.endsWith("/") ? id.substring(0, id.length() - 1) : id);
                }
            }
        } catch (S3Exception e) {
            throw new IOException("cannot list s3://" + bucket + "/" + under + ": " + describe(e), e);
        } catch (SdkException e) {
            throw new IOException("cannot list s3://" + bucket + "/" + under + ": " + e.getMessage(), e);
        }
        ids.sort(String::compareTo);
        return ids;
    }

    @Override
    public Optional<String> storeId() throws IOException {
        String key = key(STORE_ID_NAME);
        try {
            return Optional.of(s3.getObjectAsBytes(get -> get.bucket(bucket).key(key)).asString(StandardCharsets.UTF_8).strip());
        } catch (NoSuchKeyException e) {
            return Optional.empty();
        } catch (S3Exception e) {
            throw new IOException("cannot read the store id s3://" + bucket + "/" + key + ": " + describe(e), e);
        } catch (SdkException e) {
            throw new IOException("cannot read the store id s3://" + bucket + "/" + key + ": " + e.getMessage(), e);
        }
    }

    @Override
    public String claimStoreId(String candidate) throws IOException {
        String key = key(STORE_ID_NAME);
        try {
            putIfAbsent(key, (candidate + "\n").getBytes(StandardCharsets.UTF_8));
        } catch (FileAlreadyExistsException claimedFirst) {
            // Another coordinator named the store first: its id is the one.
        } catch (IOException e) {
            throw new IOException("cannot write the store id to s3://" + bucket + "/" + key + ": " + e.getMessage(), e);
        }
        return storeId().orElseThrow(() -> new IOException("the store id s3://" + bucket + "/" + key
                + " vanished after it was written"));
    }

    @Override
    public void close() {
        s3.close();
    }

    private static String errorCode(S3Exception e) {
        return e.awsErrorDetails() == null ? null : e.awsErrorDetails().errorCode();
    }

    /** The server's own words: HTTP status, S3 error code and message. */
    private static String describe(S3Exception e) {
        String code = e.awsErrorDetails() == null ? null : e.awsErrorDetails().errorCode();
        String message = e.awsErrorDetails() == null ? null : e.awsErrorDetails().errorMessage();
        return "HTTP " + e.statusCode() + (code == null ? "" : " " + code) + (message == null ? "" : ": " + message);
    }

    private static String md5Base64(byte[] bytes) {
        try {
            return Base64.getEncoder().encodeToString(MessageDigest.getInstance("MD5").digest(bytes));
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException("the JVM lacks MD5", e);
        }
    }
}
