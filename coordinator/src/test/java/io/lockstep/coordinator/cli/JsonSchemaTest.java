package io.lockstep.coordinator.cli;

import com.google.protobuf.Descriptors.Descriptor;
import com.google.protobuf.Descriptors.FieldDescriptor;
import com.google.protobuf.ListValue;
import com.google.protobuf.Value;
import com.google.protobuf.util.JsonFormat;
import io.lockstep.agent.cli.AgentMain;
import io.lockstep.coordinator.store.FileCheckpointStore;
import io.lockstep.coordinator.testing.FakeAgent;
import io.lockstep.coordinator.testing.LocalCluster;
import io.lockstep.coordinator.testing.TestCheckpoints;
import io.lockstep.zk.testing.ZkTestRoot;
import io.lockstep.manifest.ManifestCodec;
import io.lockstep.proto.LockHolder;
import io.lockstep.zk.ZkJson;
import org.apache.zookeeper.CreateMode;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;
import org.junit.jupiter.api.io.TempDir;
import picocli.CommandLine;

import java.io.PrintWriter;
import java.net.ServerSocket;
import java.io.StringWriter;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeSet;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * Every command's --json output, checked key by key against the schema in docs/json.md (the
 * document is the schema: a key or a type that differs from it fails here).
 */
class JsonSchemaTest {

    @TempDir
    Path dir;

    @RegisterExtension
    final ZkTestRoot root = new ZkTestRoot();
    private TestCheckpoints checkpoints;
    private Map<String, Map<String, String>> schema;

    @BeforeEach
    void setUp() throws Exception {
        checkpoints = new TestCheckpoints(root.zk(), root.layout(), new FileCheckpointStore(dir.resolve("store")));
        schema = readSchema();
    }

    private CliRun coordinator(String... args) {
        List<String> all = new ArrayList<>(List.of(args));
        all.addAll(List.of("--zk", root.connectString(), "--zk-root", root.layout().root(), "--store",
                dir.resolve("store").toString()));
        return CliRun.of(all.toArray(String[]::new));
    }

    @Test
    void everyCommandsJsonIsTheDocumentedSchema() throws Exception {
        try (FakeAgent a = new FakeAgent("host-b", root.connectString(), root.layout(), "web");
             FakeAgent b = new FakeAgent("host-a", root.connectString(), root.layout(), "web")) {
            CliRun checkpoint = coordinator("checkpoint", "--group", "web", "--json", "--no-progress");
            assertConforms("coordinator checkpoint", checkpoint);
            checkpoints.running("web", "ckpt-000009", 9, "host-a");
            root.zk().create().creatingParentContainersIfNeeded().withMode(CreateMode.EPHEMERAL)
                    .forPath(root.layout().lock("web"), ZkJson.toBytes(LockHolder.newBuilder().setOpId("ckpt-000009")
                            .setCoordinatorId("coord-b").setHostname("ops-host").setPid(77).build()));
            CliRun status = coordinator("status", "--json");
            assertConforms("coordinator status", status);
            assertThat(status.out()).doesNotContain("\\u003d").contains("\"epoch\":9");
        }
        assertConforms("coordinator list", coordinator("list", "--group", "web", "--json"));
        assertConforms("coordinator show", coordinator("show", "latest", "--group", "web", "--json"));
        assertConforms("coordinator zookeeper status", CliRun.of("zookeeper", "status", "--json", "--state-dir",
                dir.resolve("state").toString()));
        CliRun unknownGroup = coordinator("list", "--group", "nope", "--json");
        assertThat(unknownGroup.exit()).isEqualTo(ExitCode.NO_AGENTS.code());
        assertConforms("error", unknownGroup);
        CliRun badOption = coordinator("checkpoint", "--group", "web", "--json", "--gruop", "x");
        assertThat(badOption.exit()).isEqualTo(ExitCode.USAGE.code());
        assertConforms("error", badOption);

        Path manifest = dir.resolve("web.manifest");
        Files.write(manifest, ManifestCodec.encode(TestCheckpoints.manifest("web", "host-a", "ckpt-000001", 1)));
        StringWriter printed = new StringWriter();
        CommandLine agent = AgentMain.commandLine();
        agent.setOut(new PrintWriter(printed, true));
        assertThat(agent.execute("print", "--json", manifest.toString())).isZero();
        assertConforms("agent print", new CliRun(0, printed.toString(), ""));

        byte[] damaged = Files.readAllBytes(manifest);
        damaged[damaged.length - 1] ^= 0x01;
        Files.write(manifest, damaged);
        CliRun unusable = agent("print", "--json", manifest.toString());
        assertThat(unusable.exit()).isEqualTo(AgentMain.FAILED);
        assertConforms("error", unusable);
        assertThat(unusable.err()).startsWith("agent print: " + manifest);
        int closedPort;
        try (ServerSocket probe = new ServerSocket(0)) {
            closedPort = probe.getLocalPort();
        }
        CliRun unreachable = agent("status", "--json", "--agent", "127.0.0.1:" + closedPort, "--rpc-timeout", "5s");
        assertThat(unreachable.exit()).isEqualTo(AgentMain.AGENT_UNREACHABLE);
        assertConforms("error", unreachable);
        assertThat(unreachable.json().getFieldsOrThrow("error").getStructValue().getFieldsOrThrow("reason")
                .getStringValue()).isEqualTo("AGENT_UNREACHABLE");
    }

    private static CliRun agent(String... args) {
        StringWriter out = new StringWriter();
        StringWriter err = new StringWriter();
        CommandLine agent = AgentMain.commandLine();
        agent.setOut(new PrintWriter(out, true));
        agent.setErr(new PrintWriter(err, true));
        int exit = agent.execute(args);
        return new CliRun(exit, out.toString(), err.toString());
    }

    /**
     * A real restore through the CLI (an in-process agent, a worker holding a lock): refused while
     * the group runs (an error object), then with --replace, whose result lists what it stopped.
     */
    @Test
    void theRestoresJsonIsTheDocumentedSchema() throws Exception {
        try (LocalCluster cluster = LocalCluster.start("h1")) {
            Path data = cluster.dir().resolve("data");
            int holder = cluster.run("h1", "app", LocalCluster.worker("fd", "500", data.toString(), "lock", "posix", "write",
                    "500", "0", "10", "ready", "sleep"));
            cluster.awaitReady("h1", "app", holder);
            CliRun checkpoint = clusterCoordinator(cluster, "checkpoint", "--group", "app", "--json", "--no-progress");
            assertConforms("coordinator checkpoint", checkpoint);

            CliRun running = clusterCoordinator(cluster, "restore", "--group", "app", "--allow-root", "--json",
                    "--no-progress");
            assertThat(running.exit()).as(running.toString()).isEqualTo(ExitCode.GROUP_RUNNING.code());
            assertConforms("error", running);
            assertThat(running.json().getFieldsOrThrow("error").getStructValue().getFieldsOrThrow("reason")
                    .getStringValue()).isEqualTo("GROUP_RUNNING");

            CliRun restore = clusterCoordinator(cluster, "restore", "--group", "app", "--allow-root", "--json",
                    "--no-progress", "--replace", "--replace-grace", "5s");
            assertThat(restore.exit()).as(restore.toString()).isZero();
            assertConforms("coordinator restore", restore);
            assertThat(restore.out()).contains("\"oldPid\":" + holder + ",").contains("\"terminated\":[" + holder + "]");
        }
    }

    private static CliRun clusterCoordinator(LocalCluster cluster, String... args) {
        List<String> all = new ArrayList<>(List.of(args));
        all.addAll(List.of("--zk", cluster.zkConnect(), "--zk-root", cluster.zkRoot(), "--store",
                cluster.dir().resolve("store").toString()));
        return CliRun.of(all.toArray(String[]::new));
    }

    private void assertConforms(String object, CliRun run) throws Exception {
        assertThat(run.out().lines().count()).as("one line of JSON: %s", run).isEqualTo(1);
        Value parsed = Value.newBuilder().setStructValue(run.json()).build();
        List<String> problems = new ArrayList<>();
        check(parsed, schema.containsKey(object) ? object : "?" + object, object, problems);
        assertThat(problems).as("%s vs docs/json.md:\n%s", object, run.out()).isEmpty();
    }

    /** Checks {@code value} against a type of the schema; collects what differs, with its path. */
    private void check(Value value, String type, String path, List<String> problems) {
        if (type.endsWith("?")) {
            if (value.hasNullValue()) {
                return;
            }
            type = type.substring(0, type.length() - 1);
        }
        if (type.endsWith("[]")) {
            if (!value.hasListValue()) {
                problems.add(path + ": not a list: " + value);
                return;
            }
            ListValue list = value.getListValue();
            for (int i = 0; i < list.getValuesCount(); i++) {
                check(list.getValues(i), type.substring(0, type.length() - 2), path + "[" + i + "]", problems);
            }
            return;
        }
        if (type.endsWith("{}")) {
            if (!value.hasStructValue()) {
                problems.add(path + ": not an object: " + value);
                return;
            }
            String element = type.substring(0, type.length() - 2);
            value.getStructValue().getFieldsMap().forEach((key, item) -> check(item, element, path + "." + key, problems));
            return;
        }
        switch (type) {
            case "string" -> expect(value.hasStringValue(), path, type, value, problems);
            case "number" -> expect(value.hasNumberValue(), path, type, value, problems);
            case "boolean" -> expect(value.hasBoolValue(), path, type, value, problems);
            default -> {
                if (type.startsWith("proto:")) {
                    checkMessage(value, descriptor(type.substring("proto:".length())), path, problems);
                } else {
                    checkObject(value, type, path, problems);
                }
            }
        }
    }

    private void checkObject(Value value, String type, String path, List<String> problems) {
        Map<String, String> fields = schema.get(type);
        if (fields == null) {
            problems.add(path + ": no object '" + type + "' in docs/json.md");
            return;
        }
        if (fields.size() == 1 && fields.containsKey("")) {
            check(value, fields.get(""), path, problems);
            return;
        }
        if (!value.hasStructValue()) {
            problems.add(path + ": not an object: " + value);
            return;
        }
        Map<String, Value> actual = value.getStructValue().getFieldsMap();
        Set<String> keys = new TreeSet<>(actual.keySet());
        if (!keys.equals(new TreeSet<>(fields.keySet()))) {
            problems.add(path + ": keys " + keys + ", documented " + new TreeSet<>(fields.keySet()));
        }
        fields.forEach((key, fieldType) -> {
            if (actual.containsKey(key)) {
                check(actual.get(key), fieldType, path + "." + key, problems);
            }
        });
    }

    /** A protobuf message in the one JSON form: every field, by its JSON name, with its JSON type. */
    private void checkMessage(Value value, Descriptor message, String path, List<String> problems) {
        if (!value.hasStructValue()) {
            problems.add(path + ": not an object (" + message.getName() + "): " + value);
            return;
        }
        Map<String, Value> actual = value.getStructValue().getFieldsMap();
        Set<String> expected = new TreeSet<>();
        for (FieldDescriptor field : message.getFields()) {
            if (field.getRealContainingOneof() == null) {
                expected.add(field.getJsonName());
            }
        }
        Set<String> keys = new TreeSet<>(actual.keySet());
        keys.removeIf(key -> message.getFields().stream().anyMatch(f -> f.getJsonName().equals(key)
                && f.getRealContainingOneof() != null));
        if (!keys.equals(expected)) {
            problems.add(path + ": keys " + keys + ", " + message.getName() + " has " + expected);
        }
        for (FieldDescriptor field : message.getFields()) {
            Value item = actual.get(field.getJsonName());
            if (item == null) {
                continue;
            }
            String where = path + "." + field.getJsonName();
            if (field.isMapField()) {
                FieldDescriptor valueField = field.getMessageType().findFieldByName("value");
                if (!item.hasStructValue()) {
                    problems.add(where + ": not an object: " + item);
                } else {
                    item.getStructValue().getFieldsMap().forEach((key, v) -> checkField(v, valueField, where + "." + key,
                            problems));
                }
            } else if (field.isRepeated()) {
                if (!item.hasListValue()) {
                    problems.add(where + ": not a list: " + item);
                } else {
                    item.getListValue().getValuesList().forEach(v -> checkField(v, field, where + "[]", problems));
                }
            } else {
                checkField(item, field, where, problems);
            }
        }
    }

    private void checkField(Value value, FieldDescriptor field, String path, List<String> problems) {
        switch (field.getJavaType()) {
            case MESSAGE -> checkMessage(value, field.getMessageType(), path, problems);
            case STRING, ENUM, BYTE_STRING -> expect(value.hasStringValue(), path, field.getJavaType().name(), value, problems);
            case BOOLEAN -> expect(value.hasBoolValue(), path, "boolean", value, problems);
            default -> expect(value.hasNumberValue(), path, "number (" + field.getType() + ")", value, problems);
        }
    }

    private static void expect(boolean ok, String path, String type, Value value, List<String> problems) {
        if (!ok) {
            problems.add(path + ": expected " + type + ", found " + printed(value));
        }
    }

    private static Descriptor descriptor(String name) {
        return switch (name) {
            case "CatalogEntry" -> io.lockstep.proto.CatalogEntry.getDescriptor();
            case "HostRecord" -> io.lockstep.proto.HostRecord.getDescriptor();
            case "LockHolder" -> LockHolder.getDescriptor();
            case "OpRecord" -> io.lockstep.proto.OpRecord.getDescriptor();
            case "Manifest" -> io.lockstep.proto.Manifest.getDescriptor();
            case "StatusReply" -> io.lockstep.proto.StatusReply.getDescriptor();
            default -> throw new AssertionError("docs/json.md names proto:" + name + ", unknown to this test");
        };
    }

    /**
     * The ```schema block of docs/json.md: "object NAME" starts an object, "key type" lines its
     * keys, "(type)" an object that is that type as a whole.
     */
    private static Map<String, Map<String, String>> readSchema() throws Exception {
        Path doc = Path.of("").toAbsolutePath();
        while (!Files.exists(doc.resolve("docs/json.md"))) {
            doc = doc.getParent();
        }
        String text = Files.readString(doc.resolve("docs/json.md"));
        String block = text.substring(text.indexOf("```schema") + "```schema".length());
        block = block.substring(0, block.indexOf("```"));
        Map<String, Map<String, String>> objects = new LinkedHashMap<>();
        Map<String, String> current = null;
        for (String line : block.strip().split("\n")) {
            line = line.strip();
            if (line.isEmpty()) {
                continue;
            }
            if (line.startsWith("object ")) {
                current = new LinkedHashMap<>();
                objects.put(line.substring("object ".length()), current);
            } else if (line.startsWith("(") && line.endsWith(")")) {
                current.put("", line.substring(1, line.length() - 1));
            } else {
                String[] keyAndType = line.split("\\s+");
                current.put(keyAndType[0], keyAndType[1]);
            }
        }
        return objects;
    }

    /** A value as JSON, for a problem report. */
    private static String printed(Value value) {
        try {
            return JsonFormat.printer().omittingInsignificantWhitespace().print(value);
        } catch (com.google.protobuf.InvalidProtocolBufferException e) {
            return value.toString();
        }
    }
}
