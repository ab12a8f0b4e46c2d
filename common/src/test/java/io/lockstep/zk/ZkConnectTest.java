package io.lockstep.zk;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Map;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

class ZkConnectTest {
    @TempDir
    Path home;

    @Test
    void optionWinsOverEnvironmentWhichWinsOverTheLocalServer() {
        Map<String, String> env = Map.of(ZkConnect.ENV, "zk1:2181,zk2:2181");

        assertThat(ZkConnect.resolve("zk9:2181", null, env, home.toString()))
                .isEqualTo(new ZkConnect(ZkConnect.Source.OPTION, java.util.Optional.of("zk9:2181"),
                        home.resolve(".local/state/lockstep")));
        assertThat(ZkConnect.resolve(null, null, env, home.toString()).connectString()).contains("zk1:2181,zk2:2181");
        assertThat(ZkConnect.resolve(" ", null, Map.of(), home.toString()).isLocal()).isTrue();
    }

    @Test
    void stateDirectoryFollowsLockstepThenXdgThenHome() {
        assertThat(ZkConnect.stateDir(Map.of(ZkConnect.STATE_DIR_ENV, "/srv/lockstep", "XDG_STATE_HOME", "/x"), "/home/op"))
                .isEqualTo(Path.of("/srv/lockstep"));
        assertThat(ZkConnect.stateDir(Map.of("XDG_STATE_HOME", "/x"), "/home/op")).isEqualTo(Path.of("/x/lockstep"));
        assertThat(ZkConnect.stateDir(Map.of(), "/home/op")).isEqualTo(Path.of("/home/op/.local/state/lockstep"));
    }

    @Test
    void localServerIsFoundThroughItsPortFile() throws Exception {
        Path state = home.resolve("state");
        assertThat(ZkConnect.resolve(null, state, Map.of(), home.toString()).connectString()).isEmpty();

        Files.createDirectories(state);
        Files.writeString(state.resolve(ZkConnect.PORT_FILE), "40123\n");
        assertThat(ZkConnect.resolve(null, state, Map.of(), home.toString()).connectString()).contains("127.0.0.1:40123");

        Files.writeString(state.resolve(ZkConnect.PORT_FILE), "not a port");
        assertThatThrownBy(() -> ZkConnect.recordedPort(state)).hasMessageContaining("does not hold a port number");
    }
}
