package io.lockstep.agent.cgroup;

import java.io.BufferedReader;
import java.io.File;
import java.io.IOException;
import java.io.InputStreamReader;
import java.net.StandardProtocolFamily;
import java.net.UnixDomainSocketAddress;
import java.nio.channels.Channels;
import java.nio.channels.SocketChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.BlockingQueue;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicReference;

/**
 * The agent's long-lived freeze guard ({@code src/main/c/lockstep-guard.c}): one process per
 * agent, started once in its own session (setsid) outside every group's cgroup, outliving the
 * agent; a restarted agent attaches to the one that runs. Arming and disarming a group's guard is
 * one line over its Unix socket each, instead of a process start per freeze (see
 * {@link FreezeGuard}, the per-freeze guard it replaces in the agent). The guard runs the
 * freezer's thaw script when an entry's time passes, and tells every connected agent.
 */
public final class GuardDaemon implements AutoCloseable {
    /** The binary's file name; a test recognizes the guard by it in a process list. */
    public static final String NAME = "lockstep-guard";
    private static final List<Path> SETSID = List.of(Path.of("/usr/bin/setsid"), Path.of("/bin/setsid"));
    private static final Duration START_TIMEOUT = Duration.ofSeconds(5);
    private static final int START_ATTEMPTS = 5;
    private static final Duration REPLY_TIMEOUT = Duration.ofSeconds(5);
    private static final String FIRED_EVENT = "EVENT FIRED ";

    private enum State { ARMED, CANCELLED, FIRED }

    private final Path socket;
    private final SocketChannel channel;
    private final int pid;
    private final BlockingQueue<String> replies = new LinkedBlockingQueue<>();
    private final Map<String, Entry> entries = new ConcurrentHashMap<>();
    private volatile boolean connected = true;

    private GuardDaemon(Path socket, SocketChannel channel) throws IOException {
        this.socket = socket;
        this.channel = channel;
        BufferedReader in = new BufferedReader(new InputStreamReader(Channels.newInputStream(channel), StandardCharsets.UTF_8));
        Thread reader = new Thread(() -> read(in), "lockstep-guard-reader");
        reader.setDaemon(true);
        reader.start();
        String pong = request("PING");
        if (!pong.startsWith("PONG ")) {
            throw new IOException("freeze guard at " + socket + " answered PING with: " + pong);
        }
        this.pid = Integer.parseInt(pong.substring(5));
    }

    /**
     * Attaches to the guard that listens on {@code socket}, or starts {@code binary} there (in its
     * own session) when none answers. A start whose process exits before the guard answers is
     * tried again, up to {@link #START_ATTEMPTS} times: the exec of a binary this JVM has just
     * written fails with ETXTBSY while a process another thread spawned still holds the write
     * descriptor it inherited (many agents starting in one JVM, e.g. the checkpoint bench); the
     * guard's stderr ({@code lockstep-guard.err} beside the socket) names the cause when all fail.
     */
    public static GuardDaemon attach(Path binary, Path socket) throws IOException {
        try {
            return new GuardDaemon(socket, connect(socket));
        } catch (IOException noneRunning) {
            // start one below
        }
        Path errors = socket.resolveSibling(NAME + ".err");
        IOException last = null;
        for (int attempt = 1; attempt <= START_ATTEMPTS; attempt++) {
            Process started = start(binary, socket, errors);
            long end = System.nanoTime() + START_TIMEOUT.toNanos();
            while (System.nanoTime() < end) {
                try {
                    return new GuardDaemon(socket, connect(socket));
                } catch (IOException notYet) {
                    last = notYet;
                }
                if (!started.isAlive()) {
                    break;
                }
                java.util.concurrent.locks.LockSupport.parkNanos(2_000_000);
            }
            if (started.isAlive()) {
                started.destroyForcibly();
                break;
            }
        }
        String said = Files.exists(errors) ? Files.readString(errors, StandardCharsets.UTF_8).strip() : "";
        throw new IOException("the freeze guard " + binary + " did not answer on " + socket + " within " + START_TIMEOUT
                + (said.isEmpty() ? "" : "; it wrote: " + said.substring(said.lastIndexOf('\n') + 1)), last);
    }

    private static SocketChannel connect(Path socket) throws IOException {
        SocketChannel channel = SocketChannel.open(StandardProtocolFamily.UNIX);
        try {
            channel.connect(UnixDomainSocketAddress.of(socket));
            return channel;
        } catch (IOException e) {
            channel.close();
            throw e;
        }
    }

    private static Process start(Path binary, Path socket, Path errors) throws IOException {
        Path setsid = SETSID.stream().filter(Files::isExecutable).findFirst()
                .orElseThrow(() -> new IOException("cannot start the freeze guard: no setsid in " + SETSID));
        Files.createDirectories(socket.getParent());
        return new ProcessBuilder(setsid.toString(), binary.toString(), socket.toString())
                .redirectInput(new File("/dev/null"))
                .redirectOutput(ProcessBuilder.Redirect.DISCARD)
                .redirectError(ProcessBuilder.Redirect.to(errors.toFile()))
                .start();
    }

    private void read(BufferedReader in) {
        try {
            String line;
            while ((line = in.readLine()) != null) {
                if (line.startsWith(FIRED_EVENT)) {
                    Entry entry = entries.get(line.substring(FIRED_EVENT.length()));
                    if (entry != null) {
                        entry.fired();
                    }
                } else {
                    replies.add(line);
                }
            }
        } catch (IOException closed) {
            // the agent closed it, or the guard died: connected() says so
        }
        connected = false;
    }

    private synchronized String request(String line) throws IOException {
        if (!connected) {
            throw new IOException("the freeze guard pid " + pid + " at " + socket + " is gone");
        }
        // Straight to the channel: its stream adapters share one lock, which the reader's blocking read holds.
        java.nio.ByteBuffer bytes = java.nio.ByteBuffer.wrap((line + "\n").getBytes(StandardCharsets.UTF_8));
        while (bytes.hasRemaining()) {
            channel.write(bytes);
        }
        return reply(line);
    }

    /** The next line the guard sent in answer to {@code line}. Caller holds this monitor. */
    private String reply(String line) throws IOException {
        try {
            String reply = replies.poll(REPLY_TIMEOUT.toMillis(), TimeUnit.MILLISECONDS);
            if (reply == null) {
                throw new IOException("the freeze guard at " + socket + " did not answer " + line.split(" ")[0]
                        + " within " + REPLY_TIMEOUT);
            }
            if (reply.startsWith("ERROR")) {
                throw new IOException("the freeze guard at " + socket + " refused " + line.split(" ")[0] + ": " + reply);
            }
            return reply;
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IOException("interrupted while waiting for the freeze guard at " + socket, e);
        }
    }

    /** One round trip to the guard and back, nothing armed: what an arm costs at the least. */
    public void ping() throws IOException {
        String pong = request("PING");
        if (!pong.startsWith("PONG ")) {
            throw new IOException("freeze guard at " + socket + " answered PING with: " + pong);
        }
    }

    /** The guard process's pid. */
    public int pid() {
        return pid;
    }

    /** Whether the connection to the guard is open (a guard that died leaves every entry unguarded). */
    public boolean connected() {
        return connected;
    }

    /**
     * Arms the guard of {@code id} (unique per freeze, e.g. group/op): it runs {@code freezer}'s
     * thaw script after {@code maxFrozen} unless cancelled; {@code onFired} runs once when it did.
     */
    public ArmedGuard arm(String id, Freezer freezer, Duration maxFrozen, Runnable onFired) throws IOException {
        if (id.isEmpty() || id.chars().anyMatch(c -> c <= ' ')) {
            throw new IllegalArgumentException("a guard id has no blanks: \"" + id + "\"");
        }
        if (maxFrozen.isNegative() || maxFrozen.isZero()) {
            throw new IllegalArgumentException("max frozen time must be positive, not " + maxFrozen);
        }
        // Taken before the request: the guard's deadline starts later, so it fires no earlier.
        Instant firesAt = Instant.now().plus(maxFrozen);
        Entry entry = new Entry(id, firesAt, onFired);
        entries.put(id, entry);
        String reply = request("ARM " + id + " " + maxFrozen.toMillis() + " " + freezer.thawScript());
        if (!reply.equals("ARMED " + id)) {
            entries.remove(id, entry);
            throw new IOException("the freeze guard at " + socket + " answered ARM " + id + " with: " + reply);
        }
        return entry;
    }

    /** The ids of the guard's entries, armed or fired and not yet disarmed (those a dead agent left). */
    public synchronized List<String> entryIds() throws IOException {
        List<String> ids = new ArrayList<>();
        String line = request("LIST");
        while (!line.equals("END")) {
            String[] parts = line.split(" ");
            if (parts.length != 3 || !parts[0].equals("ENTRY")) {
                throw new IOException("the freeze guard at " + socket + " listed: " + line);
            }
            ids.add(parts[1]);
            line = reply("LIST");
        }
        return ids;
    }

    /** Disarms an entry by id (one a previous agent armed). @return its reply: DISARMED, FIRED or UNKNOWN */
    public String disarm(String id) throws IOException {
        String reply = request("DISARM " + id);
        return reply.split(" ")[0];
    }

    /** The agent stops: the guard exits too unless an entry is armed, in which case it stays to fire it. */
    @Override
    public void close() throws IOException {
        try {
            if (connected) {
                request("STOP");
            }
        } catch (IOException alreadyGone) {
            // nothing to stop
        } finally {
            channel.close();
        }
    }

    private final class Entry implements ArmedGuard {
        private final String id;
        private final Instant firesAt;
        private final Runnable onFired;
        private final AtomicReference<State> state = new AtomicReference<>(State.ARMED);

        Entry(String id, Instant firesAt, Runnable onFired) {
            this.id = id;
            this.firesAt = firesAt;
            this.onFired = onFired;
        }

        void fired() {
            if (state.compareAndSet(State.ARMED, State.FIRED)) {
                onFired.run();
            }
        }

        @Override
        public Instant firesAt() {
            return firesAt;
        }

        @Override
        public boolean isArmed() {
            return state.get() == State.ARMED && connected;
        }

        @Override
        public boolean cancel() throws IOException {
            if (state.get() == State.ARMED) {
                String reply = disarm(id);
                // UNKNOWN: a guard that restarted never had it, so it never fired it.
                state.compareAndSet(State.ARMED, reply.equals("FIRED") ? State.FIRED : State.CANCELLED);
                entries.remove(id, this);
            }
            return state.get() == State.CANCELLED;
        }

        @Override
        public String toString() {
            return "freeze guard entry " + id + " (" + state.get() + ") of guard pid " + pid;
        }
    }
}
