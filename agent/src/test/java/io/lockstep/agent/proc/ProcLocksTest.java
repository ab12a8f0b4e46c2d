package io.lockstep.agent.proc;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.util.List;
import org.junit.jupiter.api.Test;

class ProcLocksTest {
    private static final String TABLE = """
            1: POSIX  ADVISORY  WRITE 1234 08:01:5678 0 EOF
            1: -> POSIX  ADVISORY  WRITE 1235 08:01:5678 0 EOF
            2: OFDLCK ADVISORY  READ  -1 fe:00:2146505 20 29
            3: FLOCK  ADVISORY  WRITE 3985 fe:00:2146506 0 EOF
            3: -> FLOCK  ADVISORY  WRITE 3988 fe:00:2146506 0 EOF
            4: LEASE  ACTIVE    READ 777 00:2d:99 0 EOF
            5: DELEG  ACTIVE    READ 888 00:2e:100 0 EOF
            6: POSIX  ADVISORY  READ 1 <none>:0 0 EOF
            """;

    @Test
    void parsesHeldLocksWaitersAndEveryKind() {
        List<LockEntry> locks = ProcLocks.parse(TABLE);
        assertThat(locks).hasSize(8);
        assertThat(locks.get(0)).isEqualTo(new LockEntry(1, false, "POSIX", "ADVISORY", "WRITE", 1234, 8, 1, 5678, 0, LockEntry.EOF));
        assertThat(locks.get(1).waiter()).isTrue();
        assertThat(locks.get(1).ordinal()).isEqualTo(1);
        assertThat(locks.get(1).pid()).isEqualTo(1235);
        assertThat(locks.get(2)).isEqualTo(new LockEntry(2, false, "OFDLCK", "ADVISORY", "READ", -1, 254, 0, 2146505, 20, 29));
        assertThat(locks.get(2).device()).isEqualTo("254:0");
        assertThat(locks.get(4).kind()).isEqualTo("FLOCK");
        assertThat(locks.get(5).mode()).isEqualTo("ACTIVE");
        assertThat(locks.get(5).minor()).isEqualTo(0x2d);
        assertThat(locks.get(6).kind()).isEqualTo("DELEG");
        assertThat(locks.get(7).major()).isEqualTo(-1);
    }

    @Test
    void waiterIsTheSameLockAsTheOneItWaitsFor() {
        List<LockEntry> locks = ProcLocks.parse(TABLE);
        assertThat(locks.get(1).sameLock(locks.get(0))).isTrue();
        assertThat(locks.get(2).sameLock(locks.get(0))).isFalse();
    }

    @Test
    void rejectsMalformedLines() {
        assertThatThrownBy(() -> LockEntry.parse("POSIX ADVISORY WRITE")).isInstanceOf(IllegalArgumentException.class);
        assertThatThrownBy(() -> LockEntry.parse("1: POSIX ADVISORY WRITE 12 08:01 0 EOF"))
                .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("major:minor:inode");
        assertThatThrownBy(() -> LockEntry.parse("1: POSIX ADVISORY WRITE x 08:01:5 0 EOF"))
                .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("malformed number");
        assertThatThrownBy(() -> LockEntry.parse("1: -> POSIX ADVISORY WRITE 12 08:01:5 0 EOF extra more"))
                .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("expected 7 fields");
        assertThatThrownBy(() -> LockEntry.parse("1: POSIX ADVISORY WRITE 12 08:01:5:7 0 EOF"))
                .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("major:minor:inode");
    }

    @Test
    void fieldsMaySeparateByAnyWhitespace() {
        assertThat(LockEntry.parse("7:\t->  POSIX\tADVISORY   READ 12 08:01:5  3   9  "))
                .isEqualTo(new LockEntry(7, true, "POSIX", "ADVISORY", "READ", 12, 8, 1, 5, 3, 9));
    }

    @Test
    void parsesFdinfoWithLocks() {
        FdInfo info = FdInfo.parse("pos:\t42\nflags:\t02100002\nmnt_id:\t26\nino:\t2146505\n"
                + "lock:\t1: POSIX  ADVISORY  WRITE 3985 fe:00:2146505 0 9\n"
                + "lock:\t2: OFDLCK ADVISORY  WRITE -1 fe:00:2146505 20 29\n");
        assertThat(info.pos()).isEqualTo(42);
        assertThat(info.flags()).isEqualTo(02100002);
        assertThat(info.mntId()).isEqualTo(26);
        assertThat(info.inode()).isEqualTo(2146505);
        assertThat(info.locks()).extracting(LockEntry::kind).containsExactly("POSIX", "OFDLCK");
        assertThat(info.locks().get(0).end()).isEqualTo(9);
    }

    @Test
    void ignoresKindSpecificFdinfoLines() {
        FdInfo info = FdInfo.parse("pos:\t0\nflags:\t02\nmnt_id:\t15\nino:\t1057\neventfd-count:                0\neventfd-id: 12\n");
        assertThat(info.locks()).isEmpty();
        assertThat(info.mntId()).isEqualTo(15);
    }

    @Test
    void devTRoundTrips() {
        long dev = DevT.makedev(259, 65537);
        assertThat(DevT.major(dev)).isEqualTo(259);
        assertThat(DevT.minor(dev)).isEqualTo(65537);
        assertThat(DevT.makedev(8, 1)).isEqualTo(0x801);
    }
}
