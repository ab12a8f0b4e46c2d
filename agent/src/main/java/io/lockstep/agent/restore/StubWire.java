package io.lockstep.agent.restore;

import com.google.protobuf.ByteString;
import io.lockstep.names.RawNames;
import io.lockstep.proto.FromStub;
import io.lockstep.proto.StubFd;
import io.lockstep.proto.StubLock;
import io.lockstep.proto.StubPlan;
import io.lockstep.proto.StubPrepare;
import io.lockstep.proto.StubStatus;
import io.lockstep.proto.ToStub;
import java.io.ByteArrayOutputStream;
import java.io.DataOutputStream;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.BufferUnderflowException;
import java.nio.ByteBuffer;
import java.util.Map;
import java.util.TreeMap;

/**
 * The native stub's control protocol, version {@value #VERSION} (see lockstep-stub.c): frames of
 * u32 length, u8 version, u8 type, payload; big-endian integers; paths, argv and environment as
 * length-prefixed bytes: the exact bytes of the plan's {@link RawNames} strings (names are bytes;
 * never through the platform charset). The agent keeps speaking ToStub/FromStub; this class is
 * the only place that knows the frames.
 */
final class StubWire {
    static final int VERSION = 1;
    static final int PLAN = 1;
    static final int PREPARE = 2;
    static final int RELEASE = 3;
    static final int HELLO = 0x81;
    static final int REPLY = 0x82;
    /** Frames the agent accepts from a stub; a stub's replies are a few hundred bytes. */
    static final int MAX_REPLY_BYTES = 1 << 16;

    private StubWire() {
    }

    /** A whole frame, length prefix included. */
    static byte[] encode(ToStub message) {
        return switch (message.getMsgCase()) {
            case PLAN -> frame(PLAN, plan(message.getPlan()));
            case PREPARE -> frame(PREPARE, prepare(message.getPrepare()));
            case RELEASE -> frame(RELEASE, new byte[] {(byte) (message.getRelease().getCommit() ? 1 : 0)});
            default -> throw new IllegalArgumentException("nothing to send: " + message.getMsgCase());
        };
    }

    static byte[] frame(int type, byte[] payload) {
        ByteBuffer frame = ByteBuffer.allocate(4 + 2 + payload.length);
        frame.putInt(2 + payload.length).put((byte) VERSION).put((byte) type).put(payload);
        return frame.array();
    }

    private static byte[] plan(StubPlan plan) {
        Out out = new Out();
        out.i32(plan.getOldPid()).i32(plan.getUid()).i32(plan.getGid()).u8(plan.getAllowRoot() ? 1 : 0)
                .bytes(RawNames.bytes(plan.getCwd())).bytes(plan.getCheckpointIdBytes());
        out.i32(plan.getFdsCount());
        for (StubFd fd : plan.getFdsList()) {
            int kind = switch (fd.getKind()) {
                case FD_REGULAR -> 1;
                case FD_DIRECTORY -> 2;
                default -> throw new IllegalArgumentException("fd " + fd.getFd() + " (" + RawNames.display(fd.getPath())
                        + ") of kind "
                        + fd.getKind() + " cannot be reopened by a stub");
            };
            out.i32(fd.getFd()).u8(kind).i32(fd.getOpenFlags()).i64(fd.getOffset()).i64(fd.getDev())
                    .i64(fd.getInode()).bytes(RawNames.bytes(fd.getPath()));
        }
        out.i32(plan.getArgvCount());
        for (int i = 0; i < plan.getArgvCount(); i++) {
            out.bytes(RawNames.bytes(plan.getArgv(i)));
        }
        Map<String, String> env = new TreeMap<>(plan.getEnvMap());
        out.i32(env.size());
        for (Map.Entry<String, String> e : env.entrySet()) {
            out.bytes(RawNames.bytes(e.getKey() + "=" + e.getValue()));
        }
        out.i32(plan.getHandOverFdsCount());
        for (int fd : plan.getHandOverFdsList()) {
            out.i32(fd);
        }
        return out.toByteArray();
    }

    private static byte[] prepare(StubPrepare prepare) {
        Out out = new Out();
        out.u8(prepare.getBlocking() ? 1 : 0).u8(prepare.getReset() ? 1 : 0).i64(prepare.getDeadlineUnixMs());
        out.i32(prepare.getLocksCount());
        for (StubLock lock : prepare.getLocksList()) {
            out.i32(lock.getFd()).u8(lock.getKindValue()).u8(lock.getTypeValue()).i64(lock.getStart())
                    .i64(lock.getEnd()).i64(lock.getOrder());
        }
        return out.toByteArray();
    }

    /** The pid a stub announces in its HELLO. */
    static int hello(ByteBuffer payload) throws IOException {
        try {
            int pid = payload.getInt();
            requireEnd(payload, "HELLO");
            return pid;
        } catch (BufferUnderflowException e) {
            throw new IOException("restore stub sent a truncated HELLO");
        }
    }

    /** One REPLY frame's payload as the agent's FromStub. */
    static FromStub reply(ByteBuffer payload) throws IOException {
        try {
            int status = payload.get() & 0xff;
            FromStub.Builder reply = FromStub.newBuilder().setStatus(status(status)).setPid(payload.getInt())
                    .setLocksHeld(payload.getInt()).setFd(payload.getInt()).setPath(text(payload))
                    .setMessage(text(payload));
            if (payload.get() != 0) {
                reply.setLock(StubLock.newBuilder().setFd(payload.getInt()).setKindValue(payload.get())
                        .setTypeValue(payload.get()).setStart(payload.getLong()).setEnd(payload.getLong())
                        .setOrder(payload.getLong()));
                reply.setHolderPid(payload.getInt());
            }
            requireEnd(payload, "REPLY");
            return reply.build();
        } catch (BufferUnderflowException e) {
            throw new IOException("restore stub sent a truncated REPLY");
        }
    }

    private static StubStatus status(int code) throws IOException {
        return switch (code) {
            case 1 -> StubStatus.STUB_STAGED;
            case 2 -> StubStatus.STUB_PREPARED;
            case 3 -> StubStatus.STUB_CONFLICT;
            case 4 -> StubStatus.STUB_TIMEOUT;
            case 5 -> StubStatus.STUB_FAILED;
            case 6 -> StubStatus.STUB_REFUSED;
            default -> throw new IOException("restore stub sent unknown status " + code);
        };
    }

    /** Paths and messages for reports: the stub's bytes, shown with undecodable bytes escaped. */
    private static String text(ByteBuffer payload) throws IOException {
        int length = payload.getInt();
        if (length < 0 || length > payload.remaining()) {
            throw new IOException("restore stub sent a field of " + length + " bytes in a frame of "
                    + payload.remaining());
        }
        byte[] bytes = new byte[length];
        payload.get(bytes);
        return RawNames.display(RawNames.decode(bytes));
    }

    private static void requireEnd(ByteBuffer payload, String what) throws IOException {
        if (payload.hasRemaining()) {
            throw new IOException("restore stub sent " + payload.remaining() + " bytes after its " + what);
        }
    }

    /** Big-endian fields into a growing buffer. */
    private static final class Out {
        private final ByteArrayOutputStream bytes = new ByteArrayOutputStream();
        private final DataOutputStream out = new DataOutputStream(bytes);

        Out u8(int v) {
            return write(() -> out.writeByte(v));
        }

        Out i32(int v) {
            return write(() -> out.writeInt(v));
        }

        Out i64(long v) {
            return write(() -> out.writeLong(v));
        }

        Out bytes(ByteString v) {
            return write(() -> {
                out.writeInt(v.size());
                v.writeTo(out);
            });
        }

        byte[] toByteArray() {
            return bytes.toByteArray();
        }

        private interface Write {
            void run() throws IOException;
        }

        private Out write(Write w) {
            try {
                w.run();
            } catch (IOException e) {
                throw new UncheckedIOException("writing to memory failed", e);
            }
            return this;
        }
    }
}
