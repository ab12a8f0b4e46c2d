package io.lockstep.agent.restore;

import java.io.IOException;

/** A restore stub failed, timed out or vanished; the message names its pid and the file at fault. */
public final class StubException extends IOException {
    private final int stubPid;
    private final int fd;
    private final String path;

    public StubException(int stubPid, int fd, String path, String message) {
        super(message);
        this.stubPid = stubPid;
        this.fd = fd;
        this.path = path;
    }

    public StubException(int stubPid, String message, Throwable cause) {
        super(message, cause);
        this.stubPid = stubPid;
        this.fd = -1;
        this.path = "";
    }

    public int stubPid() {
        return stubPid;
    }

    /** The descriptor at fault, -1 when none. */
    public int fd() {
        return fd;
    }

    /** The file at fault, empty when none. */
    public String path() {
        return path;
    }
}
