package io.lockstep.agent.restore;

import com.google.protobuf.MessageLite;
import io.lockstep.proto.FromStub;
import io.lockstep.proto.ToStub;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.nio.ByteBuffer;
import java.nio.channels.SocketChannel;

/**
 * The stub's end of the control channel: a blocking Unix socket with varint-delimited
 * messages. One thread reads while another writes, so it talks to the channel directly:
 * the streams of {@link java.nio.channels.Channels} serialize reads and writes on one lock.
 */
final class StubChannel {
    private final SocketChannel channel;
    private final InputStream in;

    StubChannel(SocketChannel channel) {
        this.channel = channel;
        this.in = new InputStream() {
            private final ByteBuffer one = ByteBuffer.allocate(1);

            @Override
            public int read() throws IOException {
                one.clear();
                int n = channel.read(one);
                return n < 0 ? -1 : one.get(0) & 0xff;
            }

            @Override
            public int read(byte[] b, int off, int len) throws IOException {
                return len == 0 ? 0 : channel.read(ByteBuffer.wrap(b, off, len));
            }
        };
    }

    /** The next message, or null when the agent closed the channel. */
    ToStub read() throws IOException {
        return ToStub.parseDelimitedFrom(in);
    }

    synchronized void write(FromStub message) throws IOException {
        writeDelimited(channel, message);
    }

    static void writeDelimited(SocketChannel channel, MessageLite message) throws IOException {
        ByteArrayOutputStream bytes = new ByteArrayOutputStream(message.getSerializedSize() + 5);
        message.writeDelimitedTo(bytes);
        ByteBuffer buffer = ByteBuffer.wrap(bytes.toByteArray());
        while (buffer.hasRemaining()) {
            channel.write(buffer);
        }
    }
}
