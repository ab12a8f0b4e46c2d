package io.lockstep.coordinator.testing;

import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.InetAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.nio.charset.StandardCharsets;
import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.atomic.AtomicBoolean;

/**
 * A TCP relay in front of a real server that, once armed, lets the request whose head contains a
 * marker through up to half of its body, then runs {@code onCut} (e.g. kills the server) and drops
 * the connection: a server that stops in the middle of a write.
 */
public final class CuttingRelay implements AutoCloseable {
    private final ServerSocket listener;
    private final int upstreamPort;
    private final String marker;
    private final Runnable onCut;
    private final AtomicBoolean armed = new AtomicBoolean();
    private final CountDownLatch cut = new CountDownLatch(1);
    private final List<Socket> sockets = new CopyOnWriteArrayList<>();
    private final Thread acceptor;

    private CuttingRelay(int upstreamPort, String marker, Runnable onCut) throws IOException {
        this.listener = new ServerSocket(0, 50, InetAddress.getLoopbackAddress());
        this.upstreamPort = upstreamPort;
        this.marker = marker;
        this.onCut = onCut;
        this.acceptor = new Thread(this::acceptLoop, "cutting-relay-" + listener.getLocalPort());
        acceptor.setDaemon(true);
    }

    public static CuttingRelay start(int upstreamPort, String marker, Runnable onCut) throws IOException {
        CuttingRelay relay = new CuttingRelay(upstreamPort, marker, onCut);
        relay.acceptor.start();
        return relay;
    }

    public int port() {
        return listener.getLocalPort();
    }

    public void arm() {
        armed.set(true);
    }

    /** Whether a request was cut. */
    public boolean hasCut() {
        return cut.getCount() == 0;
    }

    private void acceptLoop() {
        while (!listener.isClosed()) {
            try {
                Socket client = listener.accept();
                sockets.add(client);
                Socket upstream;
                try {
                    upstream = new Socket(InetAddress.getLoopbackAddress(), upstreamPort);
                } catch (IOException serverGone) {
                    client.close();
                    continue;
                }
                sockets.add(upstream);
                daemon(() -> pump(upstream, client, false));
                daemon(() -> pump(client, upstream, true));
            } catch (IOException closed) {
                return;
            }
        }
    }

    private static void daemon(Runnable body) {
        Thread thread = new Thread(body, "cutting-relay-pump");
        thread.setDaemon(true);
        thread.start();
    }

    private void pump(Socket from, Socket to, boolean requests) {
        StringBuilder seen = new StringBuilder();
        long forwarded = 0;
        long bodyStart = -1;
        byte[] buffer = new byte[8192];
        try (InputStream in = from.getInputStream(); OutputStream out = to.getOutputStream()) {
            int n;
            while ((n = in.read(buffer)) > 0) {
                if (requests && armed.get()) {
                    seen.append(new String(buffer, 0, n, StandardCharsets.ISO_8859_1));
                    if (bodyStart < 0) {
                        int at = seen.indexOf(marker);
                        int headEnd = at < 0 ? -1 : seen.indexOf("\r\n\r\n", at);
                        bodyStart = headEnd < 0 ? -1 : headEnd + 4;
                    }
                    long bodyInChunk = bodyStart < 0 ? 0 : forwarded + n - bodyStart;
                    if (bodyInChunk > 0 && armed.compareAndSet(true, false)) {
                        out.write(buffer, 0, (int) (n - bodyInChunk + bodyInChunk / 2));
                        out.flush();
                        onCut.run();
                        cut.countDown();
                        from.close();
                        to.close();
                        return;
                    }
                }
                out.write(buffer, 0, n);
                out.flush();
                forwarded += n;
            }
        } catch (IOException closed) {
            // Either side went away: so does the other.
        } finally {
            try {
                from.close();
                to.close();
            } catch (IOException ignored) {
                // Closing a socket that is already broken has nothing left to report.
            }
        }
    }

    @Override
    public void close() throws IOException {
        listener.close();
        for (Socket socket : sockets) {
            socket.close();
        }
    }
}
