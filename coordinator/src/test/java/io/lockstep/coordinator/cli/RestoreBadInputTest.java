package io.lockstep.coordinator.cli;

import io.lockstep.coordinator.store.FileCheckpointStore;
import io.lockstep.coordinator.testing.TestCheckpoints;
import io.lockstep.zk.testing.ZkTestRoot;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.extension.RegisterExtension;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.stream.Stream;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * `coordinator restore` given things that do not exist or do not parse: each exits with its own
 * code and an error naming the argument at fault, and leaves ZooKeeper's catalog and the
 * epoch as they were (nothing was opened).
 */
class RestoreBadInputTest {

    @TempDir
    Path storeDir;

    @RegisterExtension
    final ZkTestRoot root = new ZkTestRoot();

    @BeforeEach
    void setUp() throws Exception {
        new TestCheckpoints(root.zk(), root.layout(), new FileCheckpointStore(storeDir)).commit("web", "ckpt-000001", 1, "a", "b");
    }

    static Stream<Arguments> badInput() {
        ExitCode usage = ExitCode.USAGE;
        ExitCode unusable = ExitCode.CHECKPOINT_UNUSABLE;
        return Stream.of(
                Arguments.of(List.of("--group", "nosuch"), ExitCode.NO_AGENTS, "no group nosuch; known: web"),
                Arguments.of(List.of("--group", "web", "--checkpoint", "ckpt-000042"), unusable,
                        "checkpoint ckpt-000042 does not exist in group web; known: ckpt-000001"),
                Arguments.of(List.of("--group", "web", "--checkpoint", "../ckpt-000001"), usage,
                        "checkpoint name '../ckpt-000001' is not valid"),
                Arguments.of(List.of("--group", "a/b"), usage, "group name 'a/b' is not valid"),
                Arguments.of(List.of("--group", "/abs"), usage, "group name '/abs' is not valid"),
                Arguments.of(List.of("--group", "g".repeat(65)), usage, "is not valid: use 1-64 letters"),
                Arguments.of(List.of("--group", "web", "--map", "a"), usage, "--map 'a' is not of the form OLD=NEW"),
                Arguments.of(List.of("--group", "web", "--map", "=b"), usage, "--map '=b' is not of the form OLD=NEW"),
                Arguments.of(List.of("--group", "web", "--map", "a="), usage, "--map 'a=' is not of the form OLD=NEW"),
                Arguments.of(List.of("--group", "web", "--map", "a=b=c"), usage, "host name 'b=c' is not valid"),
                Arguments.of(List.of("--group", "web", "--map", "../x=b"), usage, "host name '../x' is not valid"),
                Arguments.of(List.of("--group", "web", "--map", "a=b", "--map", "a=c"), usage,
                        "--map names host a twice (a=b, a=c)"),
                Arguments.of(List.of("--group", "web", "--map", "c=a"), usage,
                        "host map c=a: checkpoint ckpt-000001 has no manifest of host c (hosts: a, b)"),
                Arguments.of(List.of("--group", "web", "--path-map", "/a"), usage, "--path-map '/a' is not of the form"),
                Arguments.of(List.of("--group", "web", "--path-map", "data=/b"), usage, "both sides must be absolute paths"),
                Arguments.of(List.of("--group", "web", "--path-map", "/a=/b/../etc"), usage,
                        "--path-map '/a=/b/../etc': no '..' in a path"));
    }

    @ParameterizedTest
    @MethodSource("badInput")
    void badInputExitsWithItsCodeAndNamesTheArgument(List<String> options, ExitCode expected, String message) throws Exception {
        byte[] catalogBefore = root.zk().getData().forPath(root.layout().checkpoint("web", "ckpt-000001"));
        int epochBefore = root.zk().checkExists().forPath(root.layout().epoch("web")) == null ? -1
                : root.zk().checkExists().forPath(root.layout().epoch("web")).getVersion();
        List<String> args = new ArrayList<>(List.of("restore"));
        args.addAll(options);
        args.addAll(List.of("--no-progress", "--zk", root.connectString(), "--zk-root", root.layout().root(),
                "--store", storeDir.toString()));

        CliRun run = CliRun.of(args.toArray(String[]::new));

        assertThat(run.exit()).as(run.toString()).isEqualTo(expected.code());
        assertThat(run.err()).as(run.toString()).startsWith("lockstep: ").contains(message).doesNotContain("Usage:");
        assertThat(root.zk().getData().forPath(root.layout().checkpoint("web", "ckpt-000001"))).isEqualTo(catalogBefore);
        int epochAfter = root.zk().checkExists().forPath(root.layout().epoch("web")) == null ? -1
                : root.zk().checkExists().forPath(root.layout().epoch("web")).getVersion();
        assertThat(epochAfter).as("no operation was opened").isEqualTo(epochBefore);
    }
}
