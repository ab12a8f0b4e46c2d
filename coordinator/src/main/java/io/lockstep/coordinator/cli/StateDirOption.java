package io.lockstep.coordinator.cli;

import io.lockstep.zk.ZkConnect;
import picocli.CommandLine.Option;

import java.nio.file.Path;

/** {@code --state-dir}: where the local ZooKeeper and the default store live. */
final class StateDirOption {
    @Option(names = "--state-dir", paramLabel = "DIR",
            description = "State directory for the local ZooKeeper and the default store "
                    + "(default: $LOCKSTEP_STATE_DIR, else $XDG_STATE_HOME/lockstep, else ~/.local/state/lockstep).")
    Path stateDir;

    /** @param zkOption the {@code --zk} value, or null */
    ZkConnect resolve(String zkOption) {
        return ZkConnect.resolve(zkOption, stateDir, System.getenv(), System.getProperty("user.home"));
    }
}
