package io.lockstep.agent.capture;

/** The group could not be captured consistently; the message names the process and file at fault. */
public final class CaptureException extends Exception {
    private final int pid;

    public CaptureException(int pid, String message, Throwable cause) {
        super(message, cause);
        this.pid = pid;
    }

    /** The process that could not be captured. */
    public int pid() {
        return pid;
    }
}
