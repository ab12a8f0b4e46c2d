package io.lockstep.bench.capture;

/**
 * How a case's POSIX locks are laid out over files and processes.
 *
 * @param posixLocks POSIX locks over all processes
 * @param files the files they are spread over (1: every lock on one file)
 * @param processes child processes holding them
 * @param ofdLocksPerProcess OFD locks each process adds (one flock each too)
 */
record LockLayout(int posixLocks, int files, int processes, int ofdLocksPerProcess) {

    String caseName() {
        return (posixLocks >= 1000 ? posixLocks / 1000 + "k" : Integer.toString(posixLocks)) + "-locks-"
                + (files == 1 ? "one-file" : files + "-files");
    }

    /** POSIX locks process {@code index} takes: lock numbers g with g % processes == index. */
    int posixLocksOf(int index) {
        return posixLocks / processes + (index < posixLocks % processes ? 1 : 0);
    }

    /** Held locks a capture must find: the POSIX ones, the OFD ones and one flock per process. */
    int heldLocks() {
        return posixLocks + processes * (ofdLocksPerProcess + 1);
    }
}
