package io.lockstep.agent.proc;

import io.lockstep.proto.MatchRule;
import io.lockstep.proto.ServerMatch;
import java.net.Inet6Address;
import java.net.InetAddress;
import java.net.UnknownHostException;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Collection;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Optional;
import java.util.Set;
import java.util.TreeSet;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.Executor;
import java.util.concurrent.Executors;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import java.util.regex.Pattern;
import java.util.stream.Collectors;

/**
 * When two spellings of an NFS server name the same server: the same name (case, IPv6 brackets
 * and a trailing dot aside; address literals compared as addresses), an operator's alias list
 * ({@code --nfs-alias}), or a common address. Lookups are cached and bounded in time: a capture
 * resolves names while its group is frozen, and a slow DNS server must not stretch that.
 */
public final class ServerNames {
    /** Longest a capture or validation waits for one name; a late answer is used the next time. */
    static final Duration LOOKUP_TIMEOUT = Duration.ofSeconds(2);
    private static final Duration CACHE_TIME = Duration.ofMinutes(5);
    private static final Pattern IPV4 = Pattern.compile("\\d{1,3}(\\.\\d{1,3}){3}");
    private static final Executor LOOKUPS = Executors.newCachedThreadPool(task -> {
        Thread thread = new Thread(task, "nfs-server-lookup");
        thread.setDaemon(true);
        return thread;
    });

    private final AddressResolver resolver;
    private final List<Set<String>> aliasGroups;
    private final Map<String, Lookup> lookups = new ConcurrentHashMap<>();

    private record Lookup(long startedNanos, CompletableFuture<Set<String>> addresses) {
    }

    /**
     * @param aliasGroups sets of spellings (names or addresses) of one server each, as
     *     {@link #parseAliases} makes them
     */
    public ServerNames(AddressResolver resolver, List<Set<String>> aliasGroups) {
        this.resolver = resolver;
        List<Set<String>> groups = new ArrayList<>();
        for (Set<String> group : aliasGroups) {
            groups.add(group.stream().map(ServerNames::normalize).collect(Collectors.toCollection(TreeSet::new)));
        }
        this.aliasGroups = List.copyOf(groups);
    }

    /** The system resolver, no aliases. */
    public static ServerNames system() {
        return new ServerNames(AddressResolver.SYSTEM, List.of());
    }

    public List<Set<String>> aliasGroups() {
        return aliasGroups;
    }

    /**
     * {@code --nfs-alias} values, {@code NAME=OTHER[,OTHER...]}: every spelling in one value is
     * the same server, and values sharing a spelling are joined into one server.
     *
     * @throws IllegalArgumentException naming the value that is not of that form
     */
    public static List<Set<String>> parseAliases(List<String> values) {
        List<Set<String>> groups = new ArrayList<>();
        for (String value : values) {
            int eq = value.indexOf('=');
            Set<String> group = new TreeSet<>();
            if (eq > 0) {
                group.add(value.substring(0, eq).strip());
                for (String other : value.substring(eq + 1).split(",")) {
                    group.add(other.strip());
                }
            }
            if (eq <= 0 || group.size() < 2 || group.stream().anyMatch(s -> s.isEmpty() || s.contains("/")
                    || s.chars().anyMatch(Character::isWhitespace))) {
                throw new IllegalArgumentException("--nfs-alias '" + value + "' is not NAME=OTHER[,OTHER...]"
                        + " (server names or addresses, as mount sources write them before ':/')");
            }
            Set<String> merged = group.stream().map(ServerNames::normalize).collect(Collectors.toCollection(TreeSet::new));
            for (var it = groups.iterator(); it.hasNext(); ) {
                Set<String> existing = it.next();
                if (existing.stream().anyMatch(merged::contains)) {
                    merged.addAll(existing);
                    it.remove();
                }
            }
            groups.add(merged);
        }
        return groups;
    }

    /**
     * The spelling two names are compared in: lower case, no IPv6 brackets or zone, no trailing
     * dot; an address literal in Java's canonical text ("fd00::5" and "[FD00:0::5]" are equal).
     */
    public static String normalize(String server) {
        String s = server.strip();
        if (s.startsWith("[") && s.endsWith("]")) {
            s = s.substring(1, s.length() - 1);
        }
        s = s.toLowerCase(Locale.ROOT);
        if (s.endsWith(".")) {
            s = s.substring(0, s.length() - 1);
        }
        return literal(s).map(ServerNames::text).orElse(s);
    }

    /** An IPv4 or IPv6 literal as an address, without any lookup; empty for host names. */
    private static Optional<InetAddress> literal(String name) {
        if (!IPV4.matcher(name).matches() && !name.contains(":")) {
            return Optional.empty();
        }
        try {
            return Optional.of(InetAddress.getByName(name)); // a literal: parsed, never looked up
        } catch (UnknownHostException e) {
            return Optional.empty();
        }
    }

    private static String text(InetAddress address) {
        String text = address.getHostAddress();
        int zone = text.indexOf('%');
        return address instanceof Inet6Address && zone >= 0 ? text.substring(0, zone) : text;
    }

    /**
     * The addresses {@code server} stands for here, in canonical text, sorted: the literal itself,
     * or what the resolver answers within {@link #LOOKUP_TIMEOUT}; empty when it does not resolve.
     */
    public Set<String> addresses(String server) {
        String name = normalize(server);
        Optional<InetAddress> literal = literal(name);
        if (literal.isPresent()) {
            return Set.of(text(literal.get()));
        }
        long now = System.nanoTime();
        Lookup lookup = lookups.compute(name, (key, old) -> old != null
                && now - old.startedNanos() < CACHE_TIME.toNanos() ? old
                : new Lookup(now, CompletableFuture.supplyAsync(() -> resolve(key), LOOKUPS)));
        long waitNanos = LOOKUP_TIMEOUT.toNanos() - (now - lookup.startedNanos());
        try {
            return lookup.addresses().get(Math.max(0, waitNanos), TimeUnit.NANOSECONDS);
        } catch (TimeoutException slow) {
            return Set.of();
        } catch (ExecutionException | InterruptedException e) {
            if (e instanceof InterruptedException) {
                Thread.currentThread().interrupt();
            }
            return Set.of();
        }
    }

    private Set<String> resolve(String name) {
        try {
            return resolver.addresses(name).stream().map(ServerNames::text)
                    .collect(Collectors.toCollection(TreeSet::new));
        } catch (UnknownHostException | RuntimeException e) {
            return Set.of();
        }
    }

    /**
     * One spelling of a server and its addresses, computed when first needed: the recorded ones
     * (from the manifest, or the mount's addr= option) plus what the name resolves to here.
     */
    public final class Server {
        private final String written;
        private final Set<String> known;
        private Set<String> addresses;

        public Server(String written, Collection<String> knownAddresses) {
            this.written = written;
            this.known = knownAddresses.stream().map(ServerNames::normalize)
                    .collect(Collectors.toCollection(TreeSet::new));
        }

        public String written() {
            return written;
        }

        public Set<String> addresses() {
            if (addresses == null) {
                TreeSet<String> all = new TreeSet<>(known);
                all.addAll(ServerNames.this.addresses(written));
                addresses = java.util.Collections.unmodifiableSortedSet(all); // sorted: manifests are deterministic
            }
            return addresses;
        }

        /** "nfs1 (10.0.0.5, 10.0.0.6)", or "nfs1 (resolves to nothing)". */
        public String describe() {
            return written + " (" + (addresses().isEmpty() ? "resolves to nothing" : String.join(", ", addresses())) + ")";
        }
    }

    public Server server(String written, Collection<String> knownAddresses) {
        return new Server(written, knownAddresses);
    }

    /**
     * Whether {@code recorded} and {@code local} are the same server, and by which rule: the same
     * name, then an alias of the name, then a shared address, then an alias of an address. Names
     * are resolved only when the cheaper rules did not decide.
     */
    public Optional<ServerMatch> match(Server recorded, Server local) {
        String a = normalize(recorded.written());
        String b = normalize(local.written());
        if (a.equals(b)) {
            return Optional.of(rule(MatchRule.SAME_NAME, "both name the server " + a));
        }
        Optional<Set<String>> alias = aliasGroupOf(Set.of(a), Set.of(b));
        if (alias.isPresent()) {
            return Optional.of(rule(MatchRule.ALIAS, "--nfs-alias " + String.join(",", alias.get())));
        }
        Set<String> shared = new TreeSet<>(recorded.addresses());
        shared.retainAll(local.addresses());
        if (!shared.isEmpty()) {
            return Optional.of(rule(MatchRule.SHARED_ADDRESS, recorded.written() + " and " + local.written()
                    + " both resolve to " + String.join(", ", shared)));
        }
        Set<String> left = new LinkedHashSet<>(recorded.addresses());
        left.add(a);
        Set<String> right = new LinkedHashSet<>(local.addresses());
        right.add(b);
        return aliasGroupOf(left, right).map(group -> rule(MatchRule.ALIAS, "--nfs-alias " + String.join(",", group)
                + " (through the addresses " + recorded.describe() + " and " + local.describe() + ")"));
    }

    private Optional<Set<String>> aliasGroupOf(Set<String> left, Set<String> right) {
        return aliasGroups.stream()
                .filter(g -> left.stream().anyMatch(g::contains) && right.stream().anyMatch(g::contains))
                .findFirst();
    }

    private static ServerMatch rule(MatchRule rule, String detail) {
        return ServerMatch.newBuilder().setRule(rule).setDetail(detail).build();
    }
}
