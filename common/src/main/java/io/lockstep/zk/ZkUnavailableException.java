package io.lockstep.zk;

/** ZooKeeper could not be reached (or lost) within the time allowed. */
public final class ZkUnavailableException extends Exception {
    public ZkUnavailableException(String message) {
        super(message);
    }

    public ZkUnavailableException(String message, Throwable cause) {
        super(message, cause);
    }
}
