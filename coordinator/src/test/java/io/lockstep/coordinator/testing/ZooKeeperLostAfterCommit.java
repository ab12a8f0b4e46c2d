package io.lockstep.coordinator.testing;

import org.apache.curator.framework.CuratorFramework;
import org.apache.curator.framework.api.transaction.CuratorMultiTransaction;
import org.apache.curator.framework.api.transaction.CuratorOp;
import org.apache.zookeeper.KeeperException;

import java.lang.reflect.InvocationHandler;
import java.lang.reflect.InvocationTargetException;
import java.lang.reflect.Method;
import java.lang.reflect.Proxy;
import java.util.List;

/**
 * A coordinator's ZooKeeper client whose commit multi (the transaction that creates a decision)
 * reaches the server, after which ZooKeeper is lost before the answer is read: the answer is lost
 * with ZooKeeper. {@code loseZooKeeper} stops the server (the caller restarts it later).
 */
public final class ZooKeeperLostAfterCommit {
    private ZooKeeperLostAfterCommit() {
    }

    /** What loses ZooKeeper, e.g. stopping the server. */
    @FunctionalInterface
    public interface Loss {
        void lose() throws Exception;
    }

    public static CuratorFramework wrap(CuratorFramework zk, Loss loseZooKeeper) {
        return proxy(CuratorFramework.class, zk, (method, result, args) -> {
            if (!method.getName().equals("transaction")) {
                return result;
            }
            return proxy(CuratorMultiTransaction.class, (CuratorMultiTransaction) result, (txMethod, applied, txArgs) -> {
                if (txMethod.getName().equals("forOperations") && createsDecision(txArgs)) {
                    loseZooKeeper.lose();
                    throw new KeeperException.ConnectionLossException();
                }
                return applied;
            });
        });
    }

    private static boolean createsDecision(Object[] args) {
        Object ops = args == null || args.length == 0 ? null : args[0];
        List<?> list = ops instanceof List<?> l ? l : ops instanceof Object[] array ? List.of(array) : List.of();
        return list.stream().anyMatch(op -> op instanceof CuratorOp curatorOp
                && curatorOp.get().getPath().endsWith("/decision"));
    }

    @FunctionalInterface
    private interface AfterCall {
        Object after(Method method, Object result, Object[] args) throws Exception;
    }

    /** Calls go to {@code target}; {@code after} sees each call's result and may replace it. */
    private static <T> T proxy(Class<T> type, T target, AfterCall after) {
        InvocationHandler handler = (self, method, args) -> {
            Object result;
            try {
                result = method.invoke(target, args);
            } catch (InvocationTargetException e) {
                throw e.getCause();
            }
            return after.after(method, result, args);
        };
        return type.cast(Proxy.newProxyInstance(type.getClassLoader(), new Class<?>[]{type}, handler));
    }
}
