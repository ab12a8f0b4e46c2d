package io.lockstep.agent.server;

import io.grpc.Attributes;
import io.grpc.BindableService;
import io.grpc.Server;
import io.grpc.ServerServiceDefinition;
import io.grpc.netty.shaded.io.grpc.netty.GrpcHttp2ConnectionHandler;
import io.grpc.netty.shaded.io.grpc.netty.InternalNettyServerCredentials;
import io.grpc.netty.shaded.io.grpc.netty.InternalProtocolNegotiationEvent;
import io.grpc.netty.shaded.io.grpc.netty.InternalProtocolNegotiator;
import io.grpc.netty.shaded.io.grpc.netty.InternalProtocolNegotiators;
import io.grpc.netty.shaded.io.grpc.netty.NettyServerBuilder;
import io.grpc.netty.shaded.io.grpc.netty.ProtocolNegotiationEvent;
import io.grpc.netty.shaded.io.netty.channel.ChannelHandler;
import io.grpc.netty.shaded.io.netty.channel.ChannelHandlerContext;
import io.grpc.netty.shaded.io.netty.channel.ChannelInboundHandlerAdapter;
import io.grpc.netty.shaded.io.netty.channel.epoll.Epoll;
import io.grpc.netty.shaded.io.netty.channel.epoll.EpollDomainSocketChannel;
import io.grpc.netty.shaded.io.netty.channel.epoll.EpollEventLoopGroup;
import io.grpc.netty.shaded.io.netty.channel.epoll.EpollServerDomainSocketChannel;
import io.grpc.netty.shaded.io.netty.channel.unix.DomainSocketAddress;
import io.grpc.netty.shaded.io.netty.util.AsciiString;
import io.grpc.netty.shaded.io.netty.util.concurrent.DefaultThreadFactory;
import io.lockstep.tls.TransportSecurityException;

import java.io.IOException;
import java.net.StandardProtocolFamily;
import java.net.UnixDomainSocketAddress;
import java.nio.channels.SocketChannel;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.attribute.GroupPrincipal;
import java.nio.file.attribute.PosixFileAttributeView;
import java.nio.file.attribute.PosixFilePermissions;
import java.nio.file.attribute.UserPrincipalNotFoundException;
import java.util.List;
import java.util.concurrent.TimeUnit;

/**
 * The agent's local endpoint: gRPC on a Unix domain socket (Netty epoll), where each connection
 * carries its peer's uid, gid and pid as the kernel recorded them at connect (SO_PEERCRED), for
 * {@link AccessInterceptor}. The socket is mode 0660 with the configured group (default
 * {@code lockstep}) when that group exists, else 0600 (root only). It is bound under a temporary name and renamed into place once
 * its permissions are set, so that nobody ever connects through wider ones.
 */
final class LocalSocket implements AutoCloseable {
    static final Attributes.Key<PeerCredentials> PEER_CREDENTIALS = Attributes.Key.create("lockstep.peer-credentials");

    /** What SO_PEERCRED said about the process at the other end. */
    record PeerCredentials(int uid, int gid, int pid) {
    }

    private final Path path;
    private final Server server;
    private final EpollEventLoopGroup loop;

    private LocalSocket(Path path, Server server, EpollEventLoopGroup loop) {
        this.path = path;
        this.server = server;
        this.loop = loop;
    }

    static LocalSocket start(Path path, String group, int maxMessageBytes, List<ServerServiceDefinition> services,
                             List<BindableService> open) throws IOException {
        if (!Epoll.isAvailable()) {
            throw new TransportSecurityException("cannot serve the local socket " + path + ": Netty's epoll transport is"
                    + " unavailable here (" + Epoll.unavailabilityCause() + ")");
        }
        Path absolute = path.toAbsolutePath();
        Files.createDirectories(absolute.getParent());
        removeStale(absolute);
        Path bound = absolute.resolveSibling("." + absolute.getFileName() + "." + ProcessHandle.current().pid());
        Files.deleteIfExists(bound);
        EpollEventLoopGroup loop = new EpollEventLoopGroup(2, new DefaultThreadFactory("lockstep-agent-socket", true));
        NettyServerBuilder builder = NettyServerBuilder.forAddress(new DomainSocketAddress(bound.toString()),
                        InternalNettyServerCredentials.create(new PeerCredentialsNegotiator()))
                .channelType(EpollServerDomainSocketChannel.class)
                .bossEventLoopGroup(loop)
                .workerEventLoopGroup(loop)
                .maxInboundMessageSize(maxMessageBytes);
        services.forEach(builder::addService);
        open.forEach(builder::addService);
        Server server;
        try {
            server = builder.build().start();
            restrict(bound, group);
            Files.move(bound, absolute, StandardCopyOption.ATOMIC_MOVE, StandardCopyOption.REPLACE_EXISTING);
        } catch (IOException | RuntimeException e) {
            loop.shutdownGracefully(0, 1, TimeUnit.SECONDS);
            Files.deleteIfExists(bound);
            throw e;
        }
        return new LocalSocket(absolute, server, loop);
    }

    /** Mode 0660 and the group if it exists, else 0600: only root (and that group) may connect. */
    private static void restrict(Path socket, String groupName) throws IOException {
        // Following links: Java's no-follow variant opens the file, which a socket refuses (ENXIO).
        PosixFileAttributeView view = Files.getFileAttributeView(socket, PosixFileAttributeView.class);
        try {
            GroupPrincipal group = socket.getFileSystem().getUserPrincipalLookupService().lookupPrincipalByGroupName(groupName);
            view.setGroup(group);
            view.setPermissions(PosixFilePermissions.fromString("rw-rw----"));
        } catch (UserPrincipalNotFoundException noGroup) {
            view.setPermissions(PosixFilePermissions.fromString("rw-------"));
        }
    }

    /** A socket file nobody answers on is what a killed agent left; one that answers is another agent's. */
    private static void removeStale(Path socket) throws IOException {
        if (!Files.exists(socket, LinkOption.NOFOLLOW_LINKS)) {
            return;
        }
        if (!"s".equals(fileType(socket))) {
            throw new TransportSecurityException("--socket " + socket + " exists and is not a socket; refusing to replace it");
        }
        try (SocketChannel probe = SocketChannel.open(StandardProtocolFamily.UNIX)) {
            probe.connect(UnixDomainSocketAddress.of(socket));
            throw new TransportSecurityException("--socket " + socket + ": another agent answers there; stop it or pick another path");
        } catch (IOException nobodyAnswers) {
            Files.deleteIfExists(socket);
        }
    }

    private static String fileType(Path file) throws IOException {
        Object mode = Files.getAttribute(file, "unix:mode", LinkOption.NOFOLLOW_LINKS);
        return ((Integer) mode & 0170000) == 0140000 ? "s" : "other";
    }

    Path path() {
        return path;
    }

    void shutdown() {
        server.shutdown();
    }

    @Override
    public void close() throws InterruptedException, IOException {
        server.shutdown();
        if (!server.awaitTermination(5, TimeUnit.SECONDS)) {
            server.shutdownNow();
        }
        loop.shutdownGracefully(0, 1, TimeUnit.SECONDS);
        Files.deleteIfExists(path);
    }

    /**
     * Plaintext HTTP/2 as gRPC's own negotiator does it, with one step before gRPC takes the
     * connection: SO_PEERCRED of the accepted socket goes into the transport's attributes.
     */
    private static final class PeerCredentialsNegotiator implements InternalProtocolNegotiator.ProtocolNegotiator {
        @Override
        public AsciiString scheme() {
            return AsciiString.of("http");
        }

        @Override
        public ChannelHandler newHandler(GrpcHttp2ConnectionHandler grpcHandler) {
            ChannelHandler negotiation = InternalProtocolNegotiators.grpcNegotiationHandler(grpcHandler);
            return InternalProtocolNegotiators.waitUntilActiveHandler(new PeerCredentialsHandler(negotiation),
                    grpcHandler.getNegotiationLogger());
        }

        @Override
        public void close() {
        }
    }

    private static final class PeerCredentialsHandler extends ChannelInboundHandlerAdapter {
        private final ChannelHandler next;

        PeerCredentialsHandler(ChannelHandler next) {
            this.next = next;
        }

        @Override
        public void handlerAdded(ChannelHandlerContext ctx) {
            ctx.pipeline().addAfter(ctx.name(), null, next);
        }

        @Override
        public void userEventTriggered(ChannelHandlerContext ctx, Object event) throws Exception {
            if (!(event instanceof ProtocolNegotiationEvent negotiation)) {
                super.userEventTriggered(ctx, event);
                return;
            }
            io.grpc.netty.shaded.io.netty.channel.unix.PeerCredentials peer =
                    ((EpollDomainSocketChannel) ctx.channel()).peerCredentials();
            int gid = peer.gids().length > 0 ? peer.gids()[0] : -1;
            Attributes attributes = InternalProtocolNegotiationEvent.getAttributes(negotiation).toBuilder()
                    .set(PEER_CREDENTIALS, new PeerCredentials(peer.uid(), gid, peer.pid()))
                    .build();
            ctx.fireUserEventTriggered(InternalProtocolNegotiationEvent.withAttributes(negotiation, attributes));
            ctx.pipeline().remove(this);
        }
    }
}
