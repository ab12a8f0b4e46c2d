package io.lockstep.agent.restore;

import static io.lockstep.agent.restore.StubFixture.NOBODY;
import static io.lockstep.agent.restore.StubFixture.fd;
import static io.lockstep.agent.restore.StubFixture.locksOn;
import static org.assertj.core.api.Assertions.assertThat;

import io.lockstep.agent.nativeio.LibC;
import io.lockstep.proto.FromStub;
import io.lockstep.proto.LockKind;
import io.lockstep.proto.LockType;
import io.lockstep.proto.StubLock;
import io.lockstep.proto.StubPlan;
import io.lockstep.proto.StubPrepare;
import io.lockstep.proto.StubStatus;
import io.lockstep.proto.ToStub;
import java.io.IOException;
import java.net.StandardProtocolFamily;
import java.net.UnixDomainSocketAddress;
import java.nio.ByteBuffer;
import java.nio.channels.ServerSocketChannel;
import java.nio.channels.SocketChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import java.util.stream.Stream;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * The native stub's protocol, spoken byte by byte to the real binary (and to its ASan/UBSan
 * build): malformed input gets a REFUSED reply that says what was wrong, and the stub exits
 * holding nothing; names travel as bytes, whatever their encoding.
 */
class StubProtocolTest {
    private StubFixture fixture;
    private Path a;
    private RawStub stub;

    static Stream<Path> binaries() throws IOException {
        Path sanitized = Path.of(System.getProperty("lockstep.testClasspath").split(":")[0], "lockstep-stub-sanitized");
        return Stream.of(StubBinary.installed(Path.of("/tmp")).path(), sanitized);
    }

    @BeforeEach
    void setUp() throws Exception {
        fixture = new StubFixture();
        a = fixture.file("a.dat", 100);
    }

    @AfterEach
    void tearDown() throws Exception {
        if (stub != null) {
            stub.close();
        }
        fixture.close();
    }

    @ParameterizedTest
    @MethodSource("binaries")
    void anotherProtocolVersionIsRefusedByName(Path binary) throws Exception {
        stub = new RawStub(binary, fixture.dir);
        byte[] frame = StubWire.encode(planMessage());
        frame[4] = 9;
        stub.send(frame);
        assertRefused("protocol version 9, this stub speaks 1");
    }

    @ParameterizedTest
    @MethodSource("binaries")
    void aPlanThatEndsInsideAFieldIsRefusedNamingTheField(Path binary) throws Exception {
        stub = new RawStub(binary, fixture.dir);
        byte[] whole = StubWire.encode(planMessage());
        // The plan ends with the environment and the hand-over count (4 bytes, none here): cut into the former.
        byte[] cut = Arrays.copyOf(whole, whole.length - 4 - 3);
        ByteBuffer.wrap(cut).putInt(0, cut.length - 4);
        stub.send(cut);
        assertRefused("ends inside environment");
    }

    @ParameterizedTest
    @MethodSource("binaries")
    void aPlanCutShortAndAnOversizedFrameAreRefused(Path binary) throws Exception {
        stub = new RawStub(binary, fixture.dir);
        stub.send(StubWire.frame(StubWire.PLAN, new byte[] {0, 0, 0, 1, 0, 0, 0, 0}));
        assertRefused("ends inside gid");

        stub.close();
        stub = new RawStub(binary, fixture.dir);
        stub.send(new byte[] {0x7f, 0, 0, 0, 1, 1});
        assertRefused("frame length 2130706432 is outside");
    }

    @ParameterizedTest
    @MethodSource("binaries")
    void aNulInsideAPathIsRefused(Path binary) throws Exception {
        stub = new RawStub(binary, fixture.dir);
        byte[] frame = StubWire.encode(planMessage());
        int at = indexOf(frame, a.toString().getBytes());
        frame[at + 3] = 0;
        stub.send(frame);
        assertRefused("fd path contains a NUL byte");
    }

    @ParameterizedTest
    @MethodSource("binaries")
    void aMalformedRoundAfterLocksWereTakenLeavesNothingLocked(Path binary) throws Exception {
        stub = new RawStub(binary, fixture.dir);
        stub.send(StubWire.encode(planMessage()));
        assertThat(stub.reply().getStatus()).isEqualTo(StubStatus.STUB_STAGED);
        stub.send(StubWire.encode(ToStub.newBuilder().setPrepare(StubPrepare.newBuilder()
                .addLocks(StubLock.newBuilder().setFd(3).setKind(LockKind.POSIX).setType(LockType.WRITE).setEnd(-1))
                .addLocks(StubLock.newBuilder().setFd(3).setKind(LockKind.FLOCK).setType(LockType.READ).setEnd(-1))
                .setDeadlineUnixMs(System.currentTimeMillis() + 30_000)).build()));
        FromStub prepared = stub.reply();
        assertThat(prepared.getStatus()).isEqualTo(StubStatus.STUB_PREPARED);
        assertThat(locksOn(a)).hasSize(2);

        byte[] badKind = StubWire.encode(ToStub.newBuilder().setPrepare(StubPrepare.newBuilder()
                .addLocks(StubLock.newBuilder().setFd(3).setKind(LockKind.OFD).setType(LockType.READ).setStart(5)
                        .setEnd(9).setOrder(7))).build());
        badKind[6 + 1 + 1 + 8 + 4 + 4] = 4; // the lock's kind: neither POSIX, OFD nor FLOCK
        stub.send(badKind);
        assertRefused("lock #7 has kind 4");
        assertThat(locksOn(a)).as("locks left on " + a).isEmpty();
    }

    @ParameterizedTest
    @MethodSource("binaries")
    void aFileNameThatIsNotUtf8IsReopenedByItsBytes(Path binary) throws Exception {
        // The name ends in byte 0xff: no charset turns it into text and back.
        Path stand = fixture.file("latin-X", 10);
        Process make = new ProcessBuilder("/bin/sh", "-c", "printf x > \"$1\"$(printf '\\377')", "sh",
                fixture.dir.resolve("latin-").toString()).start();
        assertThat(make.waitFor()).isZero();
        long inode = Long.parseLong(new String(new ProcessBuilder("/bin/sh", "-c", "stat -c %i \"$1\"$(printf '\\377')",
                "sh", fixture.dir.resolve("latin-").toString()).start().getInputStream().readAllBytes()).trim());
        stub = new RawStub(binary, fixture.dir);
        byte[] frame = StubWire.encode(ToStub.newBuilder().setPlan(fixture.plan(List.of(fd(3, stand, LibC.O_RDONLY, 0)),
                "exit 0", Map.of())).build());
        int at = indexOf(frame, stand.toString().getBytes());
        frame[at + stand.toString().length() - 1] = (byte) 0xff;
        stub.send(frame);
        assertThat(stub.reply().getStatus()).isEqualTo(StubStatus.STUB_STAGED);
        assertThat(Files.getAttribute(Path.of("/proc", Long.toString(stub.process.pid()), "fd", "3"), "unix:ino"))
                .isEqualTo(inode);
    }

    private ToStub planMessage() {
        StubPlan plan = fixture.plan(List.of(fd(3, a, LibC.O_RDWR, 0)), "exit 0", Map.of("LANG", "C"));
        assertThat(plan.getUid()).isEqualTo(NOBODY);
        return ToStub.newBuilder().setPlan(plan).build();
    }

    private void assertRefused(String because) throws Exception {
        FromStub reply = stub.reply();
        assertThat(reply.getStatus()).isEqualTo(StubStatus.STUB_REFUSED);
        assertThat(reply.getMessage()).contains("refused the agent's message").contains(because);
        assertThat(stub.process.waitFor(30, TimeUnit.SECONDS)).as("the stub exits after a refusal").isTrue();
        assertThat(stub.process.exitValue()).isEqualTo(StubBinary.EXIT_PROTOCOL);
    }

    private static int indexOf(byte[] haystack, byte[] needle) {
        for (int i = 0; i + needle.length <= haystack.length; i++) {
            if (Arrays.equals(haystack, i, i + needle.length, needle, 0, needle.length)) {
                return i;
            }
        }
        throw new AssertionError("not in the frame: " + new String(needle));
    }

    /** One stub process on a socket of its own, spoken to in raw frames. */
    private static final class RawStub implements AutoCloseable {
        private final Path socket;
        private final ServerSocketChannel server;
        private final SocketChannel channel;
        final Process process;

        RawStub(Path binary, Path dir) throws IOException {
            socket = Files.createTempDirectory(dir, "raw").resolve("c");
            server = ServerSocketChannel.open(StandardProtocolFamily.UNIX);
            server.bind(UnixDomainSocketAddress.of(socket));
            process = new ProcessBuilder(binary.toString(), socket.toString())
                    .redirectErrorStream(true).redirectOutput(dir.resolve("raw-stub.log").toFile()).start();
            channel = server.accept();
            ByteBuffer hello = frame();
            assertThat(hello.get() & 0xff).isEqualTo(StubWire.HELLO);
            assertThat(hello.getInt()).isEqualTo((int) process.pid());
        }

        void send(byte[] bytes) throws IOException {
            ByteBuffer buffer = ByteBuffer.wrap(bytes);
            while (buffer.hasRemaining()) {
                channel.write(buffer);
            }
        }

        FromStub reply() throws IOException {
            ByteBuffer frame = frame();
            assertThat(frame.get() & 0xff).isEqualTo(StubWire.REPLY);
            return StubWire.reply(frame.slice());
        }

        /** The next frame after its version byte: type, then payload. */
        private ByteBuffer frame() throws IOException {
            ByteBuffer length = read(4);
            ByteBuffer body = read(length.getInt(0));
            assertThat(body.get() & 0xff).as("version").isEqualTo(StubWire.VERSION);
            return body;
        }

        private ByteBuffer read(int n) throws IOException {
            ByteBuffer buffer = ByteBuffer.allocate(n);
            while (buffer.hasRemaining()) {
                if (channel.read(buffer) < 0) {
                    throw new IOException("the stub closed its channel; exit "
                            + (process.isAlive() ? "none yet" : process.exitValue()));
                }
            }
            return buffer.flip();
        }

        @Override
        public void close() throws Exception {
            channel.close();
            server.close();
            process.destroyForcibly();
            process.onExit().get(30, TimeUnit.SECONDS);
            Files.deleteIfExists(socket);
            Files.deleteIfExists(socket.getParent());
        }
    }
}
