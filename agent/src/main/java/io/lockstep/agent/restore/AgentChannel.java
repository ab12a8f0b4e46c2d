package io.lockstep.agent.restore;

import io.lockstep.proto.FromStub;
import io.lockstep.proto.ToStub;
import java.io.ByteArrayOutputStream;
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
    private static final int MAX_MESSAGE_BYTES = 1 << 20;

    private final SocketChannel channel;
    private final Selector selector;
    private ByteBuffer received = ByteBuffer.allocate(4096);

    AgentChannel(SocketChannel channel) throws IOException {
        this.channel = channel;
        channel.configureBlocking(false);
        this.selector = Selector.open();
    }

    void send(ToStub message, Instant deadline) throws IOException, TimeoutException {
        ByteArrayOutputStream bytes = new ByteArrayOutputStream(message.getSerializedSize() + 5);
        message.writeDelimitedTo(bytes);
        ByteBuffer buffer = ByteBuffer.wrap(bytes.toByteArray());
        while (buffer.hasRemaining()) {
            if (channel.write(buffer) == 0) {
                await(SelectionKey.OP_WRITE, deadline);
            }
        }
    }

    /** The stub's next message, or null when it closed the channel (it exited or exec'd). */
    FromStub receive(Instant deadline) throws IOException, TimeoutException {
        while (true) {
            FromStub message = decode();
            if (message != null) {
                return message;
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

    /** One complete varint-delimited message from the front of the buffer, or null. */
    private FromStub decode() throws IOException {
        int length = 0;
        int position = 0;
        for (int shift = 0; ; shift += 7) {
            if (position >= received.position()) {
                return null;
            }
            byte b = received.get(position++);
            length |= (b & 0x7f) << shift;
            if (b >= 0) {
                break;
            }
            if (shift >= 28) {
                throw new IOException("corrupt length prefix from restore stub");
            }
        }
        if (length < 0 || length > MAX_MESSAGE_BYTES) {
            throw new IOException("restore stub sent a message of " + length + " bytes");
        }
        if (received.position() - position < length) {
            return null;
        }
        FromStub message = FromStub.parseFrom(ByteBuffer.wrap(received.array(), position, length));
        received.flip();
        received.position(position + length);
        received.compact();
        return message;
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
