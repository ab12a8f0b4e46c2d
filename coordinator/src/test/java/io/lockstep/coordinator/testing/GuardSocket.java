package io.lockstep.coordinator.testing;

import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStreamReader;
import java.net.StandardProtocolFamily;
import java.net.UnixDomainSocketAddress;
import java.nio.ByteBuffer;
import java.nio.channels.Channels;
import java.nio.channels.SocketChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

/** A test's own connection to an agent's long-lived freeze guard (`lockstep-guard`), as a second client. */
public final class GuardSocket {
    private GuardSocket() {
    }

    /** The guard socket of {@code host}'s agent in {@code cluster}. */
    public static Path of(LocalCluster cluster, String host) {
        return cluster.agentConfig(host).stateDir().resolve("guard.sock");
    }

    /** Sends one request line; returns the reply lines (LIST: up to END). */
    public static List<String> request(Path socket, String line) throws IOException {
        try (SocketChannel channel = SocketChannel.open(StandardProtocolFamily.UNIX)) {
            channel.connect(UnixDomainSocketAddress.of(socket));
            channel.write(ByteBuffer.wrap((line + "\n").getBytes(StandardCharsets.UTF_8)));
            BufferedReader in = new BufferedReader(new InputStreamReader(Channels.newInputStream(channel),
                    StandardCharsets.UTF_8));
            List<String> reply = new ArrayList<>();
            String next;
            while ((next = in.readLine()) != null) {
                if (next.startsWith("EVENT ")) {
                    continue;
                }
                if (next.equals("END")) {
                    break;
                }
                reply.add(next);
                if (!line.equals("LIST")) {
                    break;
                }
            }
            return reply;
        }
    }

    /** The ids of the guard's entries (armed or fired, not yet disarmed). */
    public static List<String> entries(Path socket) throws IOException {
        return request(socket, "LIST").stream().map(entry -> entry.split(" ")[1]).toList();
    }
}
