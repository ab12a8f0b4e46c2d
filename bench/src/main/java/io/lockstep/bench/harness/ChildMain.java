package io.lockstep.bench.harness;

import java.io.IOException;

/** What every bench child does once set up: say READY, then live until its stdin closes. */
public final class ChildMain {
    private ChildMain() {
    }

    public static void readyUntilStdinCloses() {
        System.out.println("READY");
        System.out.flush();
        try {
            while (System.in.read() >= 0) {
                // the parent never writes; EOF means it is gone or done with us
            }
        } catch (IOException ignored) {
            // parent gone either way
        }
        Runtime.getRuntime().halt(0);
    }
}
