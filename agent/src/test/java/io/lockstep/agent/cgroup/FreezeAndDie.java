package io.lockstep.agent.cgroup;

import java.time.Duration;
import java.time.Instant;

/**
 * Test child standing in for an agent that dies with its group frozen: arms a guard, freezes,
 * prints "frozen" and blocks until it is killed. Usage: FreezeAndDie ROOT BACKEND GROUP MAX_FROZEN_MS PID...
 */
public final class FreezeAndDie {
    private FreezeAndDie() {
    }

    public static void main(String[] args) throws Exception {
        CgroupLayout layout = CgroupLayout.detect(args[0]).withBackend(Backend.valueOf(args[1]));
        GroupCgroup group = layout.forGroup(args[2]);
        for (int i = 4; i < args.length; i++) {
            group.addProcess(Integer.parseInt(args[i]));
        }
        FreezeGuard.arm(group.freezer(), Duration.ofMillis(Long.parseLong(args[3])));
        group.freezer().freeze(Instant.now().plusSeconds(10));
        System.out.println("frozen");
        System.out.flush();
        Thread.currentThread().join();
    }
}
