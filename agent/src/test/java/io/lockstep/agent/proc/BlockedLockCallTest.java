package io.lockstep.agent.proc;

import static org.assertj.core.api.Assertions.assertThat;

import org.junit.jupiter.api.Test;

class BlockedLockCallTest {
    private static BlockedLockCall call(int whence, long start, long len) {
        return new BlockedLockCall(1, BlockedLockCall.POSIX, 3, true, whence, start, len);
    }

    @Test
    void resolvesWhenceStartAndLenAsTheKernelDoes() {
        assertThat(call(0, 10, 5).range(1000, 5000)).isEqualTo(new BlockedLockCall.Range(10, 14));
        assertThat(call(0, 10, 0).range(1000, 5000)).isEqualTo(new BlockedLockCall.Range(10, LockEntry.EOF));
        assertThat(call(1, 10, 5).range(1000, 5000)).isEqualTo(new BlockedLockCall.Range(1010, 1014));
        assertThat(call(2, -10, 10).range(1000, 5000)).isEqualTo(new BlockedLockCall.Range(4990, 4999));
        assertThat(call(0, 10, -4).range(1000, 5000)).isEqualTo(new BlockedLockCall.Range(6, 9));
    }

    @Test
    void aThreadNotInALockCallIsNotBlockedOnALock() throws Exception {
        long pid = ProcessHandle.current().pid();
        // the main thread of this JVM is running or in a futex wait, never in fcntl or flock
        assertThat(BlockedLockCall.read((int) pid, (int) pid)).isEmpty();
        assertThat(BlockedLockCall.supported()).isTrue();
    }
}
