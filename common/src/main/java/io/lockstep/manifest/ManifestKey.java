package io.lockstep.manifest;

import io.lockstep.files.PrivateFiles;

import javax.crypto.AEADBadTagException;
import javax.crypto.Cipher;
import javax.crypto.spec.GCMParameterSpec;
import javax.crypto.spec.SecretKeySpec;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermission;
import java.security.GeneralSecurityException;
import java.security.MessageDigest;
import java.security.SecureRandom;
import java.util.Arrays;
import java.util.HexFormat;
import java.util.Optional;
import java.util.Set;

/**
 * Encryption of manifests at rest (AES-256-GCM, from the JDK) with a key read from a file. A
 * sealed manifest is {@code "LOCKSTEP-SEALED\n"}, an 8-byte key id (the start of the key's
 * sha256, so that a wrong key is named as such), a 12-byte random nonce, then the framed
 * manifest encrypted and authenticated (the magic and key id are authenticated too). A manifest
 * that does not decrypt or authenticate is refused as damaged, with a {@link ManifestFormatException}.
 *
 * <p>The key file holds 32 random bytes as 64 hex digits ({@code openssl rand -hex 32}) and must
 * not be readable by group or others.
 */
public final class ManifestKey {
    private static final byte[] MAGIC = "LOCKSTEP-SEALED\n".getBytes(StandardCharsets.US_ASCII);
    private static final int KEY_BYTES = 32;
    private static final int KEY_ID_BYTES = 8;
    private static final int NONCE_BYTES = 12;
    private static final int TAG_BITS = 128;
    private static final int HEADER_BYTES = MAGIC.length + KEY_ID_BYTES + NONCE_BYTES;
    private static final SecureRandom RANDOM = new SecureRandom();

    private final Path file;
    private final SecretKeySpec key;
    private final byte[] keyId;

    private ManifestKey(Path file, byte[] key) {
        this.file = file;
        this.key = new SecretKeySpec(key, "AES");
        this.keyId = Arrays.copyOf(sha256(key), KEY_ID_BYTES);
    }

    /**
     * Reads a key file.
     *
     * @throws IllegalArgumentException naming the file, when it is missing, readable by others or not a key
     */
    public static ManifestKey read(Path file) {
        try {
            Set<PosixFilePermission> mode = Files.getPosixFilePermissions(file);
            if (mode.stream().anyMatch(PrivateFiles.OTHERS::contains)) {
                throw new IllegalArgumentException("manifest key " + file + " has mode " + PrivateFiles.octal(mode)
                        + ": a key readable by group or others protects nothing; chmod 600 it");
            }
            if (!Files.isRegularFile(file)) {
                throw new IllegalArgumentException("manifest key " + file + ": not a regular file");
            }
            String text = new String(Files.readAllBytes(file), StandardCharsets.US_ASCII).strip();
            byte[] key;
            try {
                key = HexFormat.of().parseHex(text);
            } catch (IllegalArgumentException e) {
                key = new byte[0];
            }
            if (key.length != KEY_BYTES) {
                throw new IllegalArgumentException("manifest key " + file + ": expected " + 2 * KEY_BYTES
                        + " hex digits (32 random bytes, e.g. `openssl rand -hex 32`)");
            }
            return new ManifestKey(file, key);
        } catch (NoSuchFileException e) {
            throw new IllegalArgumentException("manifest key " + file + ": no such file");
        } catch (IOException e) {
            throw new IllegalArgumentException("manifest key " + file + ": cannot read it: " + e.getMessage(), e);
        }
    }

    public Path file() {
        return file;
    }

    /** The key's id as stored in sealed manifests (hex), to tell keys apart in messages. */
    public String id() {
        return HexFormat.of().formatHex(keyId);
    }

    public static boolean isSealed(byte[] stored) {
        return stored.length >= MAGIC.length && Arrays.equals(stored, 0, MAGIC.length, MAGIC, 0, MAGIC.length);
    }

    /** Encrypts framed manifest bytes. */
    public byte[] seal(byte[] framed) {
        byte[] nonce = new byte[NONCE_BYTES];
        RANDOM.nextBytes(nonce);
        ByteBuffer out = ByteBuffer.allocate(HEADER_BYTES + framed.length + TAG_BITS / 8);
        out.put(MAGIC).put(keyId).put(nonce);
        try {
            Cipher cipher = cipher(Cipher.ENCRYPT_MODE, nonce);
            cipher.updateAAD(out.array(), 0, MAGIC.length + KEY_ID_BYTES);
            cipher.doFinal(ByteBuffer.wrap(framed), out);
        } catch (GeneralSecurityException e) {
            throw new IllegalStateException("AES-GCM encryption failed", e);
        }
        return out.array();
    }

    /**
     * The framed manifest inside sealed bytes.
     *
     * @throws ManifestFormatException when they are not sealed with this key, or fail authentication
     */
    public byte[] open(byte[] stored) throws ManifestFormatException {
        if (!isSealed(stored)) {
            throw new ManifestFormatException("not an encrypted manifest");
        }
        if (stored.length < HEADER_BYTES + TAG_BITS / 8) {
            throw new ManifestFormatException("encrypted manifest is truncated (" + stored.length + " bytes)");
        }
        byte[] storedKeyId = Arrays.copyOfRange(stored, MAGIC.length, MAGIC.length + KEY_ID_BYTES);
        if (!Arrays.equals(storedKeyId, keyId)) {
            throw new ManifestFormatException("manifest is encrypted with another key (key id "
                    + HexFormat.of().formatHex(storedKeyId) + "; --manifest-key " + file + " has key id " + id() + ")");
        }
        byte[] nonce = Arrays.copyOfRange(stored, MAGIC.length + KEY_ID_BYTES, HEADER_BYTES);
        try {
            Cipher cipher = cipher(Cipher.DECRYPT_MODE, nonce);
            cipher.updateAAD(stored, 0, MAGIC.length + KEY_ID_BYTES);
            return cipher.doFinal(stored, HEADER_BYTES, stored.length - HEADER_BYTES);
        } catch (AEADBadTagException e) {
            throw new ManifestFormatException("encrypted manifest fails authentication with --manifest-key " + file
                    + " (key id " + id() + "): damaged or altered");
        } catch (GeneralSecurityException e) {
            throw new ManifestFormatException("encrypted manifest cannot be decrypted: " + e.getMessage(), e);
        }
    }

    /**
     * The framed manifest in stored bytes: decrypted when sealed, as is when not (a manifest
     * written before encryption was turned on stays readable).
     *
     * @throws ManifestFormatException when sealed and no key is given, or the key does not open it
     */
    public static byte[] unseal(Optional<ManifestKey> key, byte[] stored) throws ManifestFormatException {
        if (!isSealed(stored)) {
            return stored;
        }
        if (key.isEmpty()) {
            throw new ManifestFormatException("manifest is encrypted (key id " + HexFormat.of().formatHex(stored,
                    MAGIC.length, Math.min(stored.length, MAGIC.length + KEY_ID_BYTES))
                    + "): pass its key with --manifest-key FILE");
        }
        return key.get().open(stored);
    }

    private Cipher cipher(int mode, byte[] nonce) throws GeneralSecurityException {
        Cipher cipher = Cipher.getInstance("AES/GCM/NoPadding");
        cipher.init(mode, key, new GCMParameterSpec(TAG_BITS, nonce));
        return cipher;
    }

    private static byte[] sha256(byte[] bytes) {
        try {
            return MessageDigest.getInstance("SHA-256").digest(bytes);
        } catch (GeneralSecurityException e) {
            throw new IllegalStateException("every Java platform has SHA-256", e);
        }
    }

    @Override
    public String toString() {
        return "manifest key " + file + " (id " + id() + ")";
    }
}
