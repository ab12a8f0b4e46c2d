package io.lockstep.coordinator.store;

import java.io.IOException;

/** A stored manifest is missing or does not match what the catalog recorded. */
public final class StoreCorruptionException extends IOException {
    public StoreCorruptionException(String message) {
        super(message);
    }
}
