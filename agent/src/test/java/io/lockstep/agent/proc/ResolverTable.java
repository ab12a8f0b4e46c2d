package io.lockstep.agent.proc;

import java.net.InetAddress;
import java.net.UnknownHostException;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Set;

/** A name resolver that answers from a table, as one host's DNS would: no network lookups in tests. */
public final class ResolverTable {
    private ResolverTable() {
    }

    /** @param table host name → addresses (literals); names not in it do not resolve */
    public static AddressResolver of(Map<String, List<String>> table) {
        return name -> {
            List<String> literals = table.get(name);
            if (literals == null) {
                throw new UnknownHostException(name + " is not in the test's name table");
            }
            List<InetAddress> addresses = new ArrayList<>();
            for (String literal : literals) {
                addresses.add(InetAddress.getByName(literal)); // a literal: parsed, not looked up
            }
            return addresses;
        };
    }

    public static ServerNames names(Map<String, List<String>> table, List<Set<String>> aliases) {
        return new ServerNames(of(table), aliases);
    }

    public static ServerNames names(Map<String, List<String>> table) {
        return names(table, List.of());
    }
}
