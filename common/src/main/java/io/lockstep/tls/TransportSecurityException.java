package io.lockstep.tls;

/**
 * The gRPC transport cannot be secured as configured: a missing or unusable certificate or key
 * file, an incomplete set of TLS options, or plaintext where it is not allowed. The message names
 * the file, address or option at fault; it is a configuration error, not a bug.
 */
public final class TransportSecurityException extends IllegalArgumentException {
    public TransportSecurityException(String message) {
        super(message);
    }

    public TransportSecurityException(String message, Throwable cause) {
        super(message, cause);
    }
}
