package io.lockstep.zk;

import org.apache.curator.framework.CuratorFramework;
import org.apache.zookeeper.KeeperException;
import org.apache.zookeeper.data.Stat;

import java.time.Duration;
import java.util.Optional;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.function.Supplier;

/**
 * ZooKeeper reads sent without waiting for each other's answers: a session answers in order, so
 * reads sent together cost one round trip, not one each. A missing node is an empty answer, any
 * other failure the read's exception.
 */
public final class PipelinedReads {
    /** How long reads sent together may take (a synchronous read's retries end sooner). */
    private static final Duration TIMEOUT = Duration.ofSeconds(30);

    private PipelinedReads() {
    }

    /** The node's stat, empty when it does not exist. */
    public static CompletableFuture<Optional<Stat>> exists(CuratorFramework zk, String path) throws Exception {
        CompletableFuture<Optional<Stat>> answer = new CompletableFuture<>();
        zk.checkExists().inBackground((client, event) -> settle(answer, event.getResultCode(), event.getPath(),
                event::getStat)).forPath(path);
        return answer;
    }

    /** The node's data, empty when it does not exist. */
    public static CompletableFuture<Optional<byte[]>> data(CuratorFramework zk, String path) throws Exception {
        CompletableFuture<Optional<byte[]>> answer = new CompletableFuture<>();
        zk.getData().inBackground((client, event) -> settle(answer, event.getResultCode(), event.getPath(),
                () -> event.getData() == null ? new byte[0] : event.getData())).forPath(path);
        return answer;
    }

    /**
     * Completes a read's answer from its result code: OK with {@code value}, NONODE empty, any other
     * code with that code's exception naming {@code path}.
     */
    public static <T> void settle(CompletableFuture<Optional<T>> answer, int code, String path, Supplier<T> value) {
        if (code == KeeperException.Code.OK.intValue()) {
            answer.complete(Optional.of(value.get()));
        } else if (code == KeeperException.Code.NONODE.intValue()) {
            answer.complete(Optional.empty());
        } else {
            answer.completeExceptionally(KeeperException.create(KeeperException.Code.get(code), path));
        }
    }

    /** The read's answer, or the exception it failed with. */
    public static <T> T await(CompletableFuture<T> read) throws Exception {
        try {
            return read.get(TIMEOUT.toMillis(), TimeUnit.MILLISECONDS);
        } catch (ExecutionException e) {
            throw e.getCause() instanceof Exception cause ? cause : e;
        }
    }
}
