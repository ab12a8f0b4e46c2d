package io.lockstep.agent.nativeio;

import java.io.IOException;

/** A failed system call: names the call, what it was applied to, and errno. */
public final class NativeException extends IOException {
    private final String syscall;
    private final String subject;
    private final int errno;

    public NativeException(String syscall, String subject, int errno, String message) {
        super(syscall + "(" + subject + ") failed: " + message + " (errno " + errno + ")");
        this.syscall = syscall;
        this.subject = subject;
        this.errno = errno;
    }

    public String syscall() {
        return syscall;
    }

    public String subject() {
        return subject;
    }

    public int errno() {
        return errno;
    }
}
