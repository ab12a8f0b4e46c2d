package io.lockstep.coordinator.testing;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ThreadLocalRandom;
import java.util.concurrent.TimeUnit;

/**
 * A small network of namespaces: a hub namespace holding a Linux bridge, and one namespace per
 * node (ZooKeeper, coordinator, each agent) joined to the hub by a veth pair, with an address in
 * 198.18.N.0/24 (the range reserved for network tests; N random per lab). Nothing in the root
 * namespace talks to these addresses: processes join a node's namespace to talk ({@link #enter}).
 * Cutting a node = taking its veth end in the hub down; packets are then dropped silently, as in a
 * real partition (no reset, no error: peers only notice by timeouts).
 *
 * <p>Names are {@value #PREFIX}, the creating JVM's pid, a random part and the node; {@link #close}
 * removes them, and {@link #removeLeftovers} removes whatever a killed test run left behind.
 */
public final class NetnsLab implements AutoCloseable {
    public static final String PREFIX = "lsnf-";
    private static final Path NETNS_DIR = Path.of("/run/netns");

    /** The creating JVM's pid, then a random part: leftovers of dead runs are recognisable. */
    private final String id = ProcessHandle.current().pid() + "-"
            + Integer.toHexString(ThreadLocalRandom.current().nextInt(0x100000, 0xffffff));
    private final int subnet = ThreadLocalRandom.current().nextInt(0, 256);
    private final Map<String, Integer> nodes = new LinkedHashMap<>();

    private NetnsLab() {
    }

    /** Creates the hub and one namespace per node, in the order given (addresses .1, .2, …). */
    public static NetnsLab start(String... nodeNames) throws IOException, InterruptedException {
        NetnsLab lab = new NetnsLab();
        try {
            lab.ip("netns", "add", lab.hub());
            lab.ip("-n", lab.hub(), "link", "set", "lo", "up");
            lab.ip("-n", lab.hub(), "link", "add", "br0", "type", "bridge");
            lab.ip("-n", lab.hub(), "link", "set", "br0", "up");
            for (String node : nodeNames) {
                lab.addNode(node);
            }
            return lab;
        } catch (IOException | RuntimeException e) {
            lab.close();
            throw e;
        }
    }

    private void addNode(String node) throws IOException, InterruptedException {
        int host = nodes.size() + 1;
        nodes.put(node, host);
        String ns = namespace(node);
        ip("netns", "add", ns);
        ip("-n", ns, "link", "set", "lo", "up");
        ip("-n", hub(), "link", "add", port(node), "type", "veth", "peer", "name", "eth0", "netns", ns);
        ip("-n", hub(), "link", "set", port(node), "master", "br0");
        ip("-n", hub(), "link", "set", port(node), "up");
        ip("-n", ns, "addr", "add", address(node) + "/24", "dev", "eth0");
        ip("-n", ns, "link", "set", "eth0", "up");
    }

    public String id() {
        return id;
    }

    public String namespace(String node) {
        requireNode(node);
        return PREFIX + id + "-" + node;
    }

    private String hub() {
        return PREFIX + id + "-hub";
    }

    /** The node's veth end in the hub (interface names are at most 15 characters). */
    private static String port(String node) {
        String name = "p-" + node;
        return name.length() > 15 ? name.substring(0, 15) : name;
    }

    public String address(String node) {
        return "198.18." + subnet + "." + requireNode(node);
    }

    private int requireNode(String node) {
        Integer host = nodes.get(node);
        if (host == null) {
            throw new IllegalArgumentException("no node " + node + " in network lab " + id + " (nodes " + nodes.keySet() + ")");
        }
        return host;
    }

    /**
     * The prefix that runs a command in the node's network namespace. {@code nsenter --net} and
     * not {@code ip netns exec}: the latter also remounts /sys in a new mount namespace, which
     * hides the cgroup hierarchies an agent must manage.
     */
    public List<String> enter(String node) {
        return List.of("nsenter", "--net=" + NETNS_DIR.resolve(namespace(node)), "--");
    }

    /** Partition: the node's link to the bridge goes down; its packets are dropped both ways. */
    public void cut(String node) throws IOException, InterruptedException {
        ip("-n", hub(), "link", "set", port(node), "down");
    }

    public void heal(String node) throws IOException, InterruptedException {
        ip("-n", hub(), "link", "set", port(node), "up");
    }

    private void ip(String... args) throws IOException, InterruptedException {
        List<String> command = new ArrayList<>(List.of("ip"));
        command.addAll(List.of(args));
        run(command);
    }

    private static void run(List<String> command) throws IOException, InterruptedException {
        Process process = new ProcessBuilder(command).redirectErrorStream(true).start();
        String output = new String(process.getInputStream().readAllBytes(), StandardCharsets.UTF_8).trim();
        if (!process.waitFor(30, TimeUnit.SECONDS)) {
            process.destroyForcibly();
            throw new IOException(String.join(" ", command) + " did not finish within 30 s");
        }
        if (process.exitValue() != 0) {
            throw new IOException(String.join(" ", command) + " failed (exit " + process.exitValue() + "): " + output);
        }
    }

    /** Removes this lab's namespaces (the veth pairs and the bridge go with them). */
    @Override
    public void close() throws IOException, InterruptedException {
        removeNamespaces(PREFIX + id + "-");
    }

    /**
     * Removes every namespace left behind by a lab whose JVM is gone (a killed test run); labs of
     * live JVMs, e.g. a parallel run, are left alone.
     */
    public static void removeLeftovers() throws IOException, InterruptedException {
        removeNamespaces(PREFIX, name -> {
            String pid = name.substring(PREFIX.length()).split("-", 2)[0];
            return pid.isEmpty() || !pid.chars().allMatch(Character::isDigit) || ProcessHandle.of(Long.parseLong(pid)).isEmpty();
        });
    }

    private static void removeNamespaces(String namePrefix) throws IOException, InterruptedException {
        removeNamespaces(namePrefix, name -> true);
    }

    private static void removeNamespaces(String namePrefix, java.util.function.Predicate<String> remove)
            throws IOException, InterruptedException {
        if (!Files.isDirectory(NETNS_DIR)) {
            return;
        }
        List<String> names;
        try (var entries = Files.list(NETNS_DIR)) {
            names = entries.map(p -> p.getFileName().toString()).filter(n -> n.startsWith(namePrefix))
                    .filter(remove).toList();
        }
        IOException first = null;
        for (String name : names) {
            try {
                run(List.of("ip", "netns", "del", name));
            } catch (IOException e) {
                first = first == null ? e : first;
            }
        }
        if (first != null) {
            throw first;
        }
    }
}
