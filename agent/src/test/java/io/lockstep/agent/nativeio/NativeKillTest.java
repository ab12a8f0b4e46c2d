package io.lockstep.agent.nativeio;

import org.junit.jupiter.api.Test;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

class NativeKillTest {
    /** Signal 0 only checks: were 0 and -1 let through, this would probe the own group and every process. */
    @Test
    void theOwnProcessGroupAndEveryProcessAreRefused() {
        assertThatThrownBy(() -> Native.kill(0, 0)).isInstanceOf(IllegalArgumentException.class)
                .hasMessageContaining("own process group");
        assertThatThrownBy(() -> Native.kill(-1, 0)).isInstanceOf(IllegalArgumentException.class)
                .hasMessageContaining("every process");
    }

    @Test
    void aProcessAndAGoneProcessAreStillSignalled() throws Exception {
        assertThat(Native.kill((int) ProcessHandle.current().pid(), 0)).isTrue();
        assertThat(Native.kill(Integer.MAX_VALUE, 0)).as("no such process").isFalse();
    }
}
