package io.lockstep.coordinator.embedded;

import io.lockstep.zk.ZkConnect;

import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.nio.charset.StandardCharsets;
import java.time.Duration;

/** The loopback side of the local server: is a ZooKeeper answering on a port, and which port is free. */
final class ZkLoopback {
    static final String ADDRESS = ZkConnect.LOCAL_HOST;

    private ZkLoopback() {
    }

    /** True when a ZooKeeper answers "imok" to "ruok" on 127.0.0.1:port within the timeout. */
    static boolean answers(int port, Duration timeout) {
        int millis = (int) Math.max(1, timeout.toMillis());
        try (Socket socket = new Socket()) {
            socket.connect(new InetSocketAddress(ADDRESS, port), millis);
            socket.setSoTimeout(millis);
            OutputStream out = socket.getOutputStream();
            out.write("ruok".getBytes(StandardCharsets.US_ASCII));
            out.flush();
            InputStream in = socket.getInputStream();
            return "imok".equals(new String(in.readNBytes(4), StandardCharsets.US_ASCII));
        } catch (IOException notThere) {
            return false;
        }
    }

    static boolean isFree(int port) {
        try (ServerSocket probe = new ServerSocket()) {
            probe.setReuseAddress(true);
            probe.bind(new InetSocketAddress(ADDRESS, port));
            return true;
        } catch (IOException taken) {
            return false;
        }
    }

    static int freePort() throws IOException {
        try (ServerSocket probe = new ServerSocket()) {
            probe.bind(new InetSocketAddress(ADDRESS, 0));
            return probe.getLocalPort();
        }
    }
}
