package io.lockstep.coordinator.checkpoint;

import java.time.Duration;

/**
 * Deadlines of one checkpoint. {@code timeout} bounds the whole operation; {@code freezeTimeout}
 * bounds the freeze barrier; {@code maxFrozen} is what the agents' guards enforce even if everyone
 * else dies (agents raise it to at least their ZooKeeper session timeout plus a margin).
 */
public record CheckpointOptions(Duration timeout, Duration freezeTimeout, Duration maxFrozen, Duration rpcTimeout) {
    public static CheckpointOptions defaults() {
        return new CheckpointOptions(Duration.ofSeconds(60), Duration.ofSeconds(10), Duration.ofSeconds(60),
                Duration.ofSeconds(30));
    }

    public CheckpointOptions withTimeout(Duration newTimeout) {
        return new CheckpointOptions(newTimeout, freezeTimeout.compareTo(newTimeout) < 0 ? freezeTimeout : newTimeout,
                maxFrozen, rpcTimeout.compareTo(newTimeout) < 0 ? rpcTimeout : newTimeout);
    }
}
