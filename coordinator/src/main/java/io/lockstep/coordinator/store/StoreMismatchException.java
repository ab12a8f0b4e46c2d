package io.lockstep.coordinator.store;

/** A coordinator's store is not the one its deployment recorded in ZooKeeper. */
public final class StoreMismatchException extends IllegalStateException {
    public StoreMismatchException(String message) {
        super(message);
    }
}
