package io.lockstep.zk;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.util.Map;
import java.util.Optional;

/**
 * Where ZooKeeper is, resolved the same way by agents and coordinators: the {@code --zk} option,
 * else the environment variable {@value #ENV}, else the local single-node server that the
 * coordinator starts on demand in the state directory (its port is in {@code zookeeper.port}).
 *
 * @param source        which of the three gave the answer
 * @param connectString the connect string; for {@link Source#LOCAL} the recorded port, or empty
 *                      when no local server was ever started
 * @param stateDir      {@code $LOCKSTEP_STATE_DIR}, else {@code $XDG_STATE_HOME/lockstep}, else
 *                      {@code ~/.local/state/lockstep}
 */
public record ZkConnect(Source source, Optional<String> connectString, Path stateDir) {
    public static final String ENV = "LOCKSTEP_ZK";
    public static final String STATE_DIR_ENV = "LOCKSTEP_STATE_DIR";
    public static final String PORT_FILE = "zookeeper.port";
    public static final String LOCAL_HOST = "127.0.0.1";

    public enum Source { OPTION, ENVIRONMENT, LOCAL }

    public static ZkConnect resolve(String zkOption) {
        return resolve(zkOption, null, System.getenv(), System.getProperty("user.home"));
    }

    /** @param stateDirOption an explicit state directory, overriding the environment (null: none) */
    public static ZkConnect resolve(String zkOption, Path stateDirOption, Map<String, String> env, String userHome) {
        Path stateDir = stateDirOption != null ? stateDirOption : stateDir(env, userHome);
        if (isSet(zkOption)) {
            return new ZkConnect(Source.OPTION, Optional.of(zkOption.trim()), stateDir);
        }
        if (isSet(env.get(ENV))) {
            return new ZkConnect(Source.ENVIRONMENT, Optional.of(env.get(ENV).trim()), stateDir);
        }
        return new ZkConnect(Source.LOCAL, recordedPort(stateDir).map(ZkConnect::localConnectString), stateDir);
    }

    public static Path stateDir(Map<String, String> env, String userHome) {
        if (isSet(env.get(STATE_DIR_ENV))) {
            return Path.of(env.get(STATE_DIR_ENV)).toAbsolutePath();
        }
        if (isSet(env.get("XDG_STATE_HOME"))) {
            return Path.of(env.get("XDG_STATE_HOME"), "lockstep").toAbsolutePath();
        }
        return Path.of(userHome, ".local", "state", "lockstep").toAbsolutePath();
    }

    public boolean isLocal() {
        return source == Source.LOCAL;
    }

    public static String localConnectString(int port) {
        return LOCAL_HOST + ":" + port;
    }

    /** The port the local server was last started on, if it ever was. */
    public static Optional<Integer> recordedPort(Path stateDir) {
        Path file = stateDir.resolve(PORT_FILE);
        try {
            String text = Files.readString(file, StandardCharsets.UTF_8).trim();
            int port = Integer.parseInt(text);
            if (port < 1 || port > 65535) {
                throw new IllegalStateException(file + " holds port " + port + ", which is out of range");
            }
            return Optional.of(port);
        } catch (NoSuchFileException none) {
            return Optional.empty();
        } catch (NumberFormatException e) {
            throw new IllegalStateException(file + " does not hold a port number: " + e.getMessage(), e);
        } catch (IOException e) {
            throw new IllegalStateException("cannot read " + file + ": " + e.getMessage(), e);
        }
    }

    private static boolean isSet(String value) {
        return value != null && !value.isBlank();
    }
}
