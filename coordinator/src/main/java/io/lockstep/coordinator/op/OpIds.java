package io.lockstep.coordinator.op;

import io.lockstep.proto.OpKind;

import java.security.SecureRandom;
import java.time.Instant;
import java.time.ZoneOffset;
import java.time.format.DateTimeFormatter;
import java.util.HexFormat;
import java.util.Locale;
import java.util.function.Supplier;

/**
 * Operation ids (a checkpoint's id is its op id): {@code ckpt-20261206T114201Z-000007-3f9a2c}, the
 * kind, the UTC second the op opened on the coordinator's clock, the group's epoch and 24 random
 * bits. The epoch alone repeats across ZooKeepers (a second deployment on the same store, a reset
 * ensemble); the time and the random part make an id unique beyond one ZooKeeper, so the store's
 * refusal to overwrite never meets a legitimate new checkpoint. The fixed-width time first keeps a
 * store listing chronological; within one ZooKeeper the catalog orders by epoch.
 */
public final class OpIds {
    private static final DateTimeFormatter UTC_SECOND =
            DateTimeFormatter.ofPattern("yyyyMMdd'T'HHmmss'Z'", Locale.ROOT).withZone(ZoneOffset.UTC);
    private static final SecureRandom RANDOM = new SecureRandom();

    private final Supplier<String> randomPart;

    private OpIds(Supplier<String> randomPart) {
        this.randomPart = randomPart;
    }

    /** Ids with a fresh random part each. */
    public static OpIds random() {
        return new OpIds(() -> {
            byte[] bytes = new byte[3];
            RANDOM.nextBytes(bytes);
            return HexFormat.of().formatHex(bytes);
        });
    }

    /** Ids whose random part is always {@code part}: for a test that must know the next id. */
    public static OpIds withRandomPart(String part) {
        return new OpIds(() -> part);
    }

    public String next(OpKind kind, long epoch, long openedUnixMs) {
        String prefix = kind == OpKind.RESTORE ? "restore" : "ckpt";
        return String.format(Locale.ROOT, "%s-%s-%06d-%s", prefix, UTC_SECOND.format(Instant.ofEpochMilli(openedUnixMs)),
                epoch, randomPart.get());
    }
}
