package io.lockstep.coordinator.cli;

import org.junit.jupiter.api.Test;

import java.io.PrintWriter;
import java.io.StringWriter;

import static org.assertj.core.api.Assertions.assertThat;

class ProgressTest {
    @Test
    void plainProgressPrintsOneLinePerEventAndCountsHostsItself() {
        StringWriter text = new StringWriter();
        PlainProgress progress = new PlainProgress(new PrintWriter(text));

        progress.phaseStarted("thaw", 2);
        progress.hostDone("thaw", "host-a", 0, 2, "thawed");
        progress.hostDone("thaw", "host-b", 0, 2, "thawed");
        progress.phaseEnded("thaw", 1_500);

        assertThat(text.toString().lines()).containsExactly("thaw: started on 2 hosts", "thaw: host-a (1/2): thawed",
                "thaw: host-b (2/2): thawed", "thaw: done in 1.5 ms");
    }

    @Test
    void liveProgressRedrawsPhaseAndHostLinesInPlace() {
        StringWriter screen = new StringWriter();
        LiveProgress progress = new LiveProgress(new PrintWriter(screen));

        progress.phaseStarted("freeze", 3);
        progress.hostDone("freeze", "host-a", 1, 3, "4 tasks frozen");
        progress.hostDone("freeze", "host-b", 2, 3, "2 tasks frozen");

        String drawn = screen.toString();
        // Each redraw moves the cursor up over what the previous one drew, then clears below it.
        assertThat(drawn).contains("\u001B[2F\u001B[J").contains("2/3 hosts frozen").contains("    host-b  2 tasks frozen");

        progress.phaseEnded("freeze", 250_000);
        String last = screen.toString().substring(screen.toString().lastIndexOf("\u001B[J") + 3);
        assertThat(last).contains("freeze  2/3 hosts frozen, in 250.0 ms").doesNotContain("host-a");
    }
}
