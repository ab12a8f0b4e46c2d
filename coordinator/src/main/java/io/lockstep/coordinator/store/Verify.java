package io.lockstep.coordinator.store;

/** The one check of a read manifest against its catalog entry, shared by every backend. */
final class Verify {
    private Verify() {
    }

    static byte[] manifest(String where, byte[] data, String expectedSha256, long expectedSize)
            throws StoreCorruptionException {
        if (data.length != expectedSize) {
            throw new StoreCorruptionException("manifest " + where + " has " + data.length + " bytes, the catalog recorded "
                    + expectedSize);
        }
        String actual = CheckpointStore.sha256Hex(data);
        if (!actual.equals(expectedSha256)) {
            throw new StoreCorruptionException("manifest " + where + " has sha256 " + actual + ", the catalog recorded "
                    + expectedSha256);
        }
        return data;
    }
}
