package io.lockstep.manifest;

/** Stored manifest bytes that are not a valid manifest; the message says what is wrong. */
public final class ManifestFormatException extends Exception {
    public ManifestFormatException(String message) {
        super(message);
    }

    public ManifestFormatException(String message, Throwable cause) {
        super(message, cause);
    }
}
