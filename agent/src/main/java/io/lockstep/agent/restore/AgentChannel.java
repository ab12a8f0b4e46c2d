package io.lockstep.agent.restore;

import io.lockstep.proto.FromStub;
import io.lockstep.proto.ToStub;
import java.io.Closeable;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.AsynchronousCloseException;
import java.nio.channels.CancelledKeyException;
import java.nio.channels.ClosedSelectorException;
import java.nio.channels.SelectionKey;
import java.nio.channels.Selector;
import java.nio.channels.SocketChannel;
import java.time.Duration;
import java.time.Instant;
import java.util.concurrent.TimeoutException;

/**
 * The agent's end of a stub's control channel. Non-blocking underneath, so that every send
 * and receive ends at its deadline even when the stub hangs.
 */
final class AgentChannel implements Closeable {
    private final SocketChannel channel;
    private final Selector selector;
    private ByteBuffer received = ByteBuffer.allocate(4096);

    AgentChannel(SocketChannel channel) throws IOException {
        this.channel = channel;
        channel.configureBlocking(false);
        this.selector = Selector.open();
    }

    void send(ToStub message, Instant deadline) throws IOException, TimeoutException {
        ByteBuffer buffer = ByteBuffer.wrap(StubWire.encode(message));
        while (buffer.hasRemaining()) {
            if (channel.write(buffer) == 0) {
                await(SelectionKey.OP_WRITE, deadline);
            }
        }
    }

    /** The pid in the stub's HELLO, its first frame; checks that it speaks this agent's protocol version. */
    int receiveHello(Instant deadline) throws IOException, TimeoutException {
        ByteBuffer frame = receiveFrame(StubWire.HELLO, deadline);
        if (frame == null) {
            throw new IOException("restore stub closed its channel before its HELLO");
        }
        return StubWire.hello(frame);
    }

    /** The stub's next message, or null when it closed the channel (it exited or exec'd). */
    FromStub receive(Instant deadline) throws IOException, TimeoutException {
        ByteBuffer frame = receiveFrame(StubWire.REPLY, deadline);
        return frame == null ? null : StubWire.reply(frame);
    }

    private ByteBuffer receiveFrame(int expectedType, Instant deadline) throws IOException, TimeoutException {
        while (true) {
            ByteBuffer payload = decode(expectedType);
            if (payload != null) {
                return payload;
            }
            if (!received.hasRemaining()) {
                ByteBuffer larger = ByteBuffer.allocate(received.capacity() * 2);
                received.flip();
                received = larger.put(received);
            }
            int n = channel.read(received);
            if (n < 0) {
                return null;
            }
            if (n == 0) {
                await(SelectionKey.OP_READ, deadline);
            }
        }
    }

    /** The payload of one complete frame from the front of the buffer, or null. */
    private ByteBuffer decode(int expectedType) throws IOException {
        if (received.position() < 4) {
            return null;
        }
        int length = received.getInt(0);
        if (length < 2 || length > StubWire.MAX_REPLY_BYTES) {
            throw new IOException("restore stub sent a frame of " + Integer.toUnsignedString(length) + " bytes");
        }
        if (received.position() - 4 < length) {
            return null;
        }
        int version = received.get(4) & 0xff;
        int type = received.get(5) & 0xff;
        if (version != StubWire.VERSION) {
            throw new IOException("restore stub speaks protocol version " + version + ", this agent "
                    + StubWire.VERSION + " (a stub binary of another release?)");
        }
        if (type != expectedType) {
            throw new IOException("restore stub sent message type " + type + ", expected " + expectedType);
        }
        ByteBuffer payload = ByteBuffer.wrap(java.util.Arrays.copyOfRange(received.array(), 6, 4 + length));
        received.flip();
        received.position(4 + length);
        received.compact();
        return payload;
    }

    private void await(int operation, Instant deadline) throws IOException, TimeoutException {
        try {
            SelectionKey key = channel.register(selector, operation);
            try {
                long left = Duration.between(Instant.now(), deadline).toMillis();
                if (left <= 0 || selector.select(left) == 0 && !Instant.now().isBefore(deadline)) {
                    throw new TimeoutException();
                }
            } finally {
                key.interestOps(0);
                selector.selectedKeys().clear();
            }
        } catch (ClosedSelectorException | CancelledKeyException e) {
            throw new AsynchronousCloseException();
        }
    }

    /** May be called while another thread waits in send or receive: that thread then fails at once. */
    @Override
    public void close() throws IOException {
        try {
            selector.close(); // wakes a thread blocked in select
        } finally {
            channel.close();
        }
    }
}
