package io.lockstep.coordinator.schedules;

/**
 * The lock kinds of a schedule's application. Each host runs a holder, which locks its own data
 * file (bytes 0-9), and a waiter, which waits for the other host's holder's lock: h1's waiter for
 * h2's holder, h2's waiter for h1's holder. A waiter's kind conflicts with its holder's (flock waits
 * on flock; POSIX and OFD on POSIX or OFD).
 */
record Application(String h1Holder, String h2Holder, String h1Waiter, String h2Waiter) {
    static final String POSIX = "posix";
    static final String OFD = "ofd";
    static final String FLOCK = "flock";

    String holderOn(String host) {
        return host.equals(ScheduleCluster.STEADY_HOST) ? h1Holder : h2Holder;
    }

    String waiterOn(String host) {
        return host.equals(ScheduleCluster.STEADY_HOST) ? h1Waiter : h2Waiter;
    }

    @Override
    public String toString() {
        return "h1 holds " + h1Holder + " (h2 waits " + h2Waiter + "), h2 holds " + h2Holder + " (h1 waits " + h1Waiter + ")";
    }
}
