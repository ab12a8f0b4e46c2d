package io.lockstep.bench.freeze;

import io.lockstep.bench.harness.ChildMain;
import java.util.concurrent.locks.LockSupport;

/**
 * Child with N extra threads, each asleep in the kernel (parked), as the threads of a real
 * application mostly are: each must be woken and trapped by the freezer. Usage: {@code IdleThreadsChild N}.
 */
public final class IdleThreadsChild {
    private IdleThreadsChild() {
    }

    public static void main(String[] args) {
        int threads = Integer.parseInt(args[0]);
        for (int i = 0; i < threads; i++) {
            Thread thread = new Thread(() -> {
                while (true) {
                    LockSupport.park();
                }
            }, "idle-" + i);
            thread.setDaemon(true);
            thread.start();
        }
        ChildMain.readyUntilStdinCloses();
    }
}
