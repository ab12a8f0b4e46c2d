package io.lockstep.agent.cgroup;

import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.concurrent.locks.LockSupport;

/**
 * Test child: N threads, each counting in its own 8-byte slot of one file. If any thread is not
 * frozen, its slot moves. Usage: ThreadedCounter FILE THREADS
 */
public final class ThreadedCounter {
    private ThreadedCounter() {
    }

    public static void main(String[] args) throws Exception {
        Path file = Path.of(args[0]);
        int threads = Integer.parseInt(args[1]);
        FileChannel channel = FileChannel.open(file, StandardOpenOption.CREATE, StandardOpenOption.WRITE, StandardOpenOption.READ);
        Thread[] counters = new Thread[threads];
        for (int i = 0; i < threads; i++) {
            long slot = 8L * i;
            counters[i] = new Thread(() -> {
                ByteBuffer buffer = ByteBuffer.allocate(8);
                for (long n = 1; ; n++) {
                    buffer.clear();
                    buffer.putLong(0, n);
                    try {
                        // Positional writes: the threads share the channel without sharing a file position.
                        channel.write(buffer, slot);
                    } catch (java.io.IOException e) {
                        System.exit(2);
                    }
                    LockSupport.parkNanos(5_000_000);
                }
            }, "counter-" + i);
            counters[i].start();
        }
        for (Thread counter : counters) {
            counter.join();
        }
    }
}
